using System.Diagnostics;
using System.Globalization;

namespace Clip.Bench;

internal static class Stats
{
    public static double Median(IEnumerable<double> xs)
    {
        var a = xs.OrderBy(x => x).ToArray();
        return a.Length == 0 ? double.NaN : a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    public static double Percentile(IEnumerable<double> xs, double p)
    {
        var a = xs.OrderBy(x => x).ToArray();
        if (a.Length == 0) return double.NaN;
        double rank = p / 100 * (a.Length - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return a[lo] + (a[hi] - a[lo]) * (rank - lo);
    }

    public static string F(double v, string format = "0.00") => v.ToString(format, CultureInfo.InvariantCulture);

    public static string MiB(long bytes) => F(bytes / 1048576.0, "0.0") + " MiB";

    /// <summary>Runs a command, returns wall seconds; throws if it fails.</summary>
    public static double TimeProcess(string file, string args)
    {
        var psi = new ProcessStartInfo("/bin/sh", ["-c", $"{file} {args}"]) { RedirectStandardError = true };
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {args}: exit {p.ExitCode}: {err}");
        return sw.Elapsed.TotalSeconds;
    }

    public static string MachineInfo()
    {
        string cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "unknown cpu";
        return $"{cpu}, {Environment.ProcessorCount} cores, {F(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1073741824.0, "0")} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, zlib {Clip.Interop.ZInflater.Version}";
    }
}
