using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Clip.NetBench.Report;

/// <summary>
/// The PNG chart, drawn by gnuplot (package gnuplot-nox): per network profile, median time to
/// first output (top row) and registry bytes for the cold starts (bottom row), bars per mode,
/// clusters per image.
/// </summary>
public static class Chart
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private static readonly string[] Colors = ["#4c72b0", "#dd8452", "#c44e52", "#8fb0d8", "#f0b98c", "#e8a0a2"];

    /// <summary>Writes <paramref name="png"/>; returns null, or why there is no chart.</summary>
    public static string? Write(string png, List<ReportCommand.Profile> profiles, List<BenchImage> images,
        Dictionary<(string Profile, string Image, string Mode), ReportCommand.Summary> summaries, string workDir)
    {
        Directory.CreateDirectory(workDir);
        var modes = ReportCommand.Modes.Where(m => summaries.Any(kv => kv.Key.Mode == m.Id && kv.Value.Runs > 0)).Select(m => m.Id).ToList();
        var coldModes = modes.Where(m => m.EndsWith("-cold", StringComparison.Ordinal)).ToList();
        if (profiles.Count == 0 || images.Count == 0 || modes.Count == 0) return "no successful runs";

        var script = new StringBuilder();
        script.AppendLine(Inv, $"set terminal pngcairo size {Math.Max(900, 560 * profiles.Count)},900 font 'DejaVu Sans,10' noenhanced");
        script.AppendLine($"set output '{Path.GetFullPath(png)}'");
        script.AppendLine("set datafile missing '?'");
        script.AppendLine("set style data histograms");
        script.AppendLine("set style histogram clustered gap 1");
        script.AppendLine("set style fill solid 0.9 border -1");
        script.AppendLine("set boxwidth 0.9");
        script.AppendLine("set grid ytics");
        script.AppendLine("set key top right");
        script.AppendLine("set yrange [0:*]");
        script.AppendLine("set offsets 0, 0, graph 0.12, 0");
        script.AppendLine(Inv, $"set multiplot layout 2,{profiles.Count} title 'clip vs overlayfs: cold container start (medians)'");

        void Panel(ReportCommand.Profile profile, List<string> panelModes, string what, Func<ReportCommand.Summary, double> value, string ylabel, string fmt)
        {
            panelModes = panelModes.Where(m => images.Any(i => summaries.TryGetValue((profile.Name, i.Name, m), out var s) && s.Runs > 0)).ToList();
            script.AppendLine($"set title '{profile.Title.Replace("'", "", StringComparison.Ordinal)}' font ',9'");
            script.AppendLine($"set ylabel '{ylabel}'");
            if (panelModes.Count == 0)
            {
                script.AppendLine("set label 1 'no successful runs' at graph 0.5, graph 0.5 center");
                script.AppendLine("plot [0:1] [0:1] NaN notitle");
                script.AppendLine("unset label 1");
                return;
            }
            string data = Path.Combine(workDir, $"{profile.Name}-{what}.dat");
            var rows = new StringBuilder();
            foreach (var image in images)
            {
                rows.Append(image.Name);
                foreach (string m in panelModes)
                    rows.Append(' ').Append(summaries.TryGetValue((profile.Name, image.Name, m), out var s) && s.Runs > 0 ? value(s).ToString("0.###", Inv) : "?");
                rows.AppendLine();
            }
            File.WriteAllText(data, rows.ToString());
            int n = panelModes.Count;
            var plots = new List<string>();
            for (int i = 0; i < n; i++)
            {
                string color = Colors[Array.FindIndex(ReportCommand.Modes, m => m.Id == panelModes[i]) % Colors.Length];
                plots.Add($"'{data}' using {i + 2}:xtic(1) title '{panelModes[i]}' lc rgb '{color}'");
            }
            for (int i = 0; i < n; i++)
            {
                string x = string.Create(Inv, $"($0 + ({i} - {(n - 1) / 2.0:0.###}) / {n + 1}.0)");
                plots.Add($"'{data}' using {x}:{i + 2}:(${i + 2} < 1 ? sprintf('%.2f', ${i + 2}) : sprintf('{fmt}', ${i + 2})) with labels offset 0,0.7 font ',8' notitle");
            }
            script.AppendLine("plot " + string.Join(", \\\n     ", plots));
        }

        foreach (var p in profiles) Panel(p, modes, "time", s => s.FirstOutput, "seconds to first output", "%.1f");
        foreach (var p in profiles) Panel(p, coldModes, "bytes", s => s.RegistryBytes / 1e6, "MB sent by the registry (cold)", "%.0f");
        script.AppendLine("unset multiplot");
        string scriptPath = Path.Combine(workDir, "chart.gnuplot");
        File.WriteAllText(scriptPath, script.ToString());
        try
        {
            var psi = new ProcessStartInfo("gnuplot") { RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(scriptPath);
            using var proc = Process.Start(psi)!;
            string err = proc.StandardError.ReadToEnd();
            proc.WaitForExit();
            return proc.ExitCode == 0 ? null : $"gnuplot failed: {err.Trim()}";
        }
        catch (Win32Exception)
        {
            return "gnuplot is not installed (apt-get install -y gnuplot-nox)";
        }
    }
}
