using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Clip.Cli;

/// <summary><c>clipctl metrics</c>: the daemon's Prometheus metrics (clip_* series), as text or JSON.</summary>
internal static partial class MetricsCommand
{
    public static Command Create(CliConsole console)
    {
        var addressOpt = new Option<string?>("--address") { Description = "Daemon metrics address HOST:PORT (default: metrics_address from the config file)" };
        var configOpt = new Option<string>("--config") { Description = "clip-snapshotter config file", DefaultValueFactory = _ => "/etc/clip/config.toml" };
        var formatOpt = new Option<string>("--format") { Description = "text (Prometheus exposition) or json", DefaultValueFactory = _ => "text" };
        formatOpt.AcceptOnlyFromAmong("text", "json");
        var allOpt = new Option<bool>("--all") { Description = "Include the runtime's own series, not only clip_*" };
        var cmd = new Command("metrics", "Show the snapshotter daemon's metrics") { addressOpt, configOpt, formatOpt, allOpt };
        cmd.SetAction((parse, ct) => ClipCtl.Guard(console, async () =>
        {
            string address = parse.GetValue(addressOpt) ?? AddressFromConfig(parse.GetRequiredValue(configOpt));
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            string text;
            try { text = await http.GetStringAsync($"http://{address}/metrics", ct); }
            catch (HttpRequestException e) { throw new IOException($"cannot read metrics from {address}: {e.Message}"); }
            bool all = parse.GetValue(allOpt);
            var lines = text.Split('\n').Where(l => l.Length > 0 && (all || l.StartsWith("clip_", StringComparison.Ordinal) || l.StartsWith("# HELP clip_", StringComparison.Ordinal) || l.StartsWith("# TYPE clip_", StringComparison.Ordinal)));
            if (parse.GetValue(formatOpt) == "json")
            {
                using var w = new Utf8JsonWriter(console.Out, new JsonWriterOptions { Indented = true });
                w.WriteStartObject();
                foreach (var line in lines.Where(l => !l.StartsWith('#')))
                {
                    var m = Sample().Match(line);
                    if (!m.Success) continue;
                    w.WriteNumber(m.Groups[1].Value, double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
                }
                w.WriteEndObject();
                await w.FlushAsync(ct);
                console.Out.WriteByte((byte)'\n');
            }
            else
            {
                foreach (var line in lines) await console.OutText.WriteLineAsync(line);
            }
            return 0;
        }));
        return cmd;
    }

    private static string AddressFromConfig(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} does not exist: give the daemon's metrics address with --address HOST:PORT");
        Tomlyn.Model.TomlTable model;
        try { model = Tomlyn.TomlSerializer.Deserialize<Tomlyn.Model.TomlTable>(File.ReadAllText(path)) ?? new Tomlyn.Model.TomlTable(); }
        catch (Tomlyn.TomlException e) { throw new InvalidDataException($"{path}: {e.Message}"); }
        if (model.TryGetValue("metrics_address", out var v) && v is string address && address.Length > 0) return address;
        throw new InvalidDataException($"{path} sets no metrics_address: the daemon exports no metrics");
    }

    [GeneratedRegex(@"^(\S+?(?:\{[^}]*\})?)\s+(\S+)$")]
    private static partial Regex Sample();
}
