using System.Globalization;
using System.Text;
using System.Text.Json;
using Clip.NetBench.Measure;

namespace Clip.NetBench.Report;

/// <summary>
/// <c>clip-netbench report</c>: reads a results directory (<c>params.env</c>, <c>clip-config.toml</c>,
/// <c>runs/*.json</c>) and writes the markdown report and the PNG chart (gnuplot).
/// </summary>
public static class ReportCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Modes in display order, with what each one is.</summary>
    public static readonly (string Id, string Title)[] Modes =
    [
        ("overlayfs-cold", "overlayfs, cold: `ctr image pull` + `ctr run`"),
        ("clip-cold", "clip, cold: `ctr-remote image rpull --snapshotter clip` + `ctr run --snapshotter clip`"),
        ("clipctl-cold", "clip, cold: `clipctl pull` + `ctr run --snapshotter clip`"),
        ("overlayfs-warm", "overlayfs, warm: second `ctr run`, image already pulled"),
        ("clip-warm", "clip, warm: second `ctr run`, clip cache kept"),
        ("clipctl-warm", "clip (clipctl pull), warm: second `ctr run`"),
    ];

    public sealed record Profile(string Name, double BandwidthMbit, double RttMs)
    {
        public bool Shaped => BandwidthMbit > 0;
        public string Title => Shaped
            ? string.Create(Inv, $"{Name}: {BandwidthMbit:0.###} Mbit/s (tc tbf on the veth, both directions), {RttMs:0.###} ms RTT (relay)")
            : RttMs > 0 ? string.Create(Inv, $"{Name}: loopback, unshaped, {RttMs:0.###} ms RTT (relay)") : $"{Name}: loopback, no shaping, no added delay";
    }

    /// <summary>Medians over the successful runs of one (profile, image, mode).</summary>
    public sealed class Summary
    {
        public int Runs, Failed;
        public double FirstOutput, FirstOutputMin, FirstOutputMax;
        public double? Pull, RunToOutput;
        public double RegistryBytes;
        /// <summary>Median tc byte count on the registry's veth (IP packets), when measured.</summary>
        public double? LinkBytes;
        public Dictionary<string, double> Parts = [];
        public double? ClipFetched, ClipRegistryReceived, ClipFetches, ClipWholeLayers;
        /// <summary>Response body bytes the relay saw for requests with clip's User-Agent (what clip's registry counter should equal).</summary>
        public double RelayClipBodies;
        /// <summary>Layers clip's snapshotter served lazily / left to containerd (remote Prepares by outcome).</summary>
        public double? LazyServed, LazyFallback;
    }

    public static async Task<int> RunAsync(Args args)
    {
        string dir = args.Require("results");
        string md = args.Require("md");
        string png = args.Require("png");
        args.CheckAllUsed();

        var p = ReadParams(Path.Combine(dir, "params.env"));
        var profiles = p.GetValueOrDefault("profiles", "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s =>
        {
            var f = s.Split(':');
            return new Profile(f[0], double.Parse(f[1], Inv), double.Parse(f[2], Inv));
        }).ToList();
        var images = p.GetValueOrDefault("images", "").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(n => BenchImage.Load(n, p[$"image.{n}.ref"], p["layout"], p[$"image.{n}.tag"], p.GetValueOrDefault($"image.{n}.index")))
            .ToList();
        var runs = Directory.EnumerateFiles(Path.Combine(dir, "runs"), "*.json").Order(StringComparer.Ordinal)
            .Select(f => JsonSerializer.Deserialize<RunRecord>(File.ReadAllText(f), MeasureCommand.Json)!)
            .ToList();

        var summaries = new Dictionary<(string Profile, string Image, string Mode), Summary>();
        foreach (var g in runs.GroupBy(r => (r.Labels.GetValueOrDefault("profile", ""), r.Labels.GetValueOrDefault("image", ""), r.Labels.GetValueOrDefault("mode", ""))))
        {
            var image = images.FirstOrDefault(i => i.Name == g.Key.Item2);
            if (image is null) continue;
            summaries[g.Key] = Summarize(image, g.ToList());
        }

        string mdDir = Path.GetDirectoryName(Path.GetFullPath(md))!;
        Directory.CreateDirectory(mdDir);
        string? chartError = Chart.Write(png, profiles, images, summaries, Path.Combine(dir, "chart"));
        string text = Markdown(p, profiles, images, runs, summaries, Path.GetRelativePath(mdDir, Path.GetFullPath(png)), chartError,
            File.Exists(Path.Combine(dir, "clip-config.toml")) ? await File.ReadAllTextAsync(Path.Combine(dir, "clip-config.toml")) : null);
        await File.WriteAllTextAsync(md, text);
        await WriteCsvAsync(Path.Combine(dir, "runs.csv"), runs, images);
        Console.WriteLine($"wrote {md}{(chartError is null ? $" and {png}" : $" (no chart: {chartError})")}");
        return 0;
    }

    public static Dictionary<string, string> ReadParams(string path)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in File.ReadAllLines(path))
        {
            int eq = line.IndexOf('=');
            if (eq > 0 && !line.StartsWith('#')) d[line[..eq]] = line[(eq + 1)..];
        }
        return d;
    }

    private static Summary Summarize(BenchImage image, List<RunRecord> runs)
    {
        var ok = runs.Where(r => r.Error is null && r.FirstOutputSeconds is not null).ToList();
        var s = new Summary { Runs = ok.Count, Failed = runs.Count - ok.Count };
        if (ok.Count == 0) return s;
        var first = ok.Select(r => r.FirstOutputSeconds!.Value).ToList();
        s.FirstOutput = Median(first);
        s.FirstOutputMin = first.Min();
        s.FirstOutputMax = first.Max();
        s.Pull = MedianOrNull(ok.Select(r => r.PullSeconds));
        s.RunToOutput = MedianOrNull(ok.Select(r => r.RunFirstOutputSeconds));
        s.RegistryBytes = Median(ok.Select(r => (double)(r.Relay?.BytesDown ?? 0)));
        s.LinkBytes = ok.All(r => r.LinkBytes is not null) ? Median(ok.Select(r => (double)r.LinkBytes!.Value)) : null;
        var parts = ok.Select(r => Parts(image, r)).ToList();
        foreach (string part in parts.SelectMany(x => x.Keys).Distinct())
            s.Parts[part] = Median(parts.Select(x => x.GetValueOrDefault(part)));
        s.RelayClipBodies = Median(ok.Select(r => (double)(r.Relay?.Requests.Where(q => q.UserAgent?.StartsWith("clip/", StringComparison.Ordinal) == true).Sum(q => q.ResponseBodyBytes) ?? 0)));
        s.ClipFetched = Metric(ok, "clip_content_fetched_bytes_total");
        s.ClipRegistryReceived = Metric(ok, "clip_registry_bytes_received_bytes_total");
        s.ClipFetches = Metric(ok, "clip_content_fetches_total");
        s.ClipWholeLayers = Metric(ok, "clip_content_whole_layer_fetches_total");
        s.LazyServed = Metric(ok, "clip_snapshotter_remote_prepares_total", "outcome=\"served\"");
        var notServable = Metric(ok, "clip_snapshotter_remote_prepares_total", "outcome=\"not_servable\"");
        var failed = Metric(ok, "clip_snapshotter_remote_prepares_total", "outcome=\"failed\"");
        s.LazyFallback = notServable is null && failed is null ? null : (notServable ?? 0) + (failed ?? 0);
        return s;
    }

    /// <summary>Bytes the registry sent per part of the image (wire bytes: HTTP heads included), plus "unattributed".</summary>
    public static Dictionary<string, double> Parts(BenchImage image, RunRecord r)
    {
        var d = new Dictionary<string, double>(StringComparer.Ordinal);
        if (r.Relay is null) return d;
        foreach (var q in r.Relay.Requests)
        {
            string part = image.Classify(q.Method, q.Target);
            d[part] = d.GetValueOrDefault(part) + q.ResponseHeadBytes + q.ResponseBodyBytes;
        }
        double attributed = d.Values.Sum();
        if (r.Relay.BytesDown - attributed is > 0 and var rest) d["unattributed"] = rest;
        return d;
    }

    /// <summary>Median over runs of a clip metric's delta (summed over labels); null when no run had the daemon's metrics or the series.</summary>
    private static double? Metric(List<RunRecord> runs, string name, string? label = null)
    {
        var values = runs.Where(r => r.MetricsDelta is not null)
            .Select(r => r.MetricsDelta!.Where(kv => PrometheusText.NameOf(kv.Key) == name && (label is null || kv.Key.Contains(label, StringComparison.Ordinal)))
                .Select(kv => kv.Value).ToList())
            .Where(v => v.Count > 0)
            .Select(v => v.Sum())
            .ToList();
        return values.Count == 0 ? null : Median(values);
    }

    public static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToList();
        if (v.Count == 0) return double.NaN;
        return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
    }

    private static double? MedianOrNull(IEnumerable<double?> values)
    {
        var v = values.Where(x => x is not null).Select(x => x!.Value).ToList();
        return v.Count == 0 ? null : Median(v);
    }

    private static string Lazy(Summary s) => s.LazyServed is null && s.LazyFallback is null ? "—" : $"{s.LazyServed ?? 0:0} / {s.LazyFallback ?? 0:0}";

    public static string Mb(double bytes) => (bytes / 1e6).ToString(bytes < 1e5 ? "0.000" : bytes < 1e7 ? "0.00" : "0.0", Inv) + " MB";
    private static string Sec(double? s) => s is { } v ? v.ToString(v < 10 ? "0.00" : "0.0", Inv) + " s" : "—";
    private static string Pct(double part, double whole) => whole <= 0 ? "—" : (100 * part / whole).ToString(100 * part / whole < 1 ? "0.00" : "0.0", Inv) + " %";

    private static string Markdown(Dictionary<string, string> p, List<Profile> profiles, List<BenchImage> images, List<RunRecord> runs,
        Dictionary<(string, string, string), Summary> summaries, string pngRelative, string? chartError, string? clipConfig)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Cold container start: clip vs overlayfs");
        sb.AppendLine();
        sb.AppendLine($"Written by the benchmark itself (`bench/start/bench-start.sh` → `clip-netbench report`); do not edit by hand. Run started {p.GetValueOrDefault("started", "?")}, finished {p.GetValueOrDefault("finished", "?")}.");
        sb.AppendLine();
        if (chartError is null) sb.AppendLine($"![time to first output and registry bytes]({pngRelative})").AppendLine();
        else sb.AppendLine($"(chart not written: {chartError})").AppendLine();

        sb.AppendLine("## What is measured");
        sb.AppendLine();
        sb.AppendLine("- **Time to first output**: from the start of the pull command to the first byte the container writes to stdout (`ctr run` is spawned, its stdout read, the first byte timestamped). *Warm* rows have no pull: from `ctr run` to the first byte.");
        sb.AppendLine("- **Registry sent**: bytes the registry wrote to its TCP connections during the window (pull start to container exit), counted by the bench's relay in front of the registry — not by clip. The relay parses HTTP/1.1 framing to attribute each response (head + body) to the request path, hence per layer (blob digest in the path), image manifest + config, and clip index (referrers tag, index artifact manifest and blobs).");
        sb.AppendLine("- **% of image**: registry bytes / compressed image size (manifest + config + compressed layers).");
        sb.AppendLine("- **layers lazy / unpacked**: clip's own account of the layer Prepares it got with image labels (`clip_snapshotter_remote_prepares_total`): served lazily vs left to containerd to download and unpack (its overlayfs-compatible fallback).");
        sb.AppendLine("- **clip counters**: deltas of the daemon's Prometheus series over the same window — `clip_content_fetched_bytes_total` (compressed layer bytes clip's lazy reader fetched by range; layers below the small-layer threshold are fetched whole instead and shown as \"+ N whole layers\", `clip_content_whole_layer_fetches_total`) and `clip_registry_bytes_received_bytes_total` (every body byte clip's registry client read); \"n/a\" when the daemon exposes no such series (e.g. lazy reads not wired yet, so containerd downloaded the layers itself). The registry-client counter is checked in the byte table against the bytes the relay saw for requests carrying clip's User-Agent.");
        sb.AppendLine("- **Network emulation**: the relay adds the RTT to every request/response round trip (it delays data, not TCP handshakes, and does not reproduce TCP slow start on a long link); tc tbf sets the bandwidth of the registry's veth.");
        sb.AppendLine("- **Cold** means: fresh containerd root and state, fresh clip root and cache, page cache dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`) before the pull. Each cold run is followed by one warm run on the same containerd/clip (cache kept, page cache not dropped).");
        sb.AppendLine($"- Medians over {p.GetValueOrDefault("reps", "?")} repetitions; the range is min–max. MB = 10^6 bytes.");
        sb.AppendLine();

        sb.AppendLine("## Parameters");
        sb.AppendLine();
        sb.AppendLine("| | |");
        sb.AppendLine("|---|---|");
        sb.AppendLine($"| repetitions | {p.GetValueOrDefault("reps", "?")} per image and mode (modes interleaved per repetition) |");
        foreach (var pr in profiles) sb.AppendLine($"| network profile | {pr.Title} |");
        if (p.TryGetValue("tbf", out string? tbf) && profiles.Any(x => x.Shaped)) sb.AppendLine($"| shaping | `tc qdisc add dev <veth> root tbf {tbf}` on both veth ends (registry in netns `{p.GetValueOrDefault("netns", "?")}`) |");
        sb.AppendLine($"| relay | `clip-netbench relay`: TCP relay on {p.GetValueOrDefault("relay", "?")}, holds each chunk RTT/2 in each direction (a queue, not a rate limit); every client (containerd, ctr-remote, clip) talks to the registry through it |");
        foreach (var i in images)
        {
            sb.AppendLine($"| image `{i.Name}` | `{i.Reference}` ({i.ManifestDigest[..19]}…): {i.Layers.Count} gzip layers, {Mb(i.CompressedSize)} compressed" +
                (i.UncompressedSize is { } u ? $", {Mb(u)} uncompressed" : "") + (i.IndexFileSize is { } x ? $"; clip index {Mb(x)}" : "") + " |");
            sb.AppendLine($"| `{i.Name}` layers | " + string.Join("; ", i.Layers.Select((l, n) => $"{n + 1}: {l.Digest[7..19]} {Mb(l.Size)}" + (l.Uncompressed is { } lu ? $" ({Mb(lu)} tar)" : ""))) + " |");
        }
        foreach (var (k, v) in p.Where(kv => kv.Key.StartsWith("cmd.", StringComparison.Ordinal)))
            sb.AppendLine($"| {k[4..]} | `{v.Replace("|", "\\|", StringComparison.Ordinal)}` |");
        foreach (string k in new[] { "clipctl_pull", "clip_bin", "background_fetch", "load_start", "load_end", "note" })
            if (p.TryGetValue(k, out string? v)) sb.AppendLine($"| {k.Replace('_', ' ')} | {v} |");
        sb.AppendLine();
        if (clipConfig is not null)
        {
            sb.AppendLine("<details><summary>clip-snapshotter configuration used for every clip run</summary>");
            sb.AppendLine();
            sb.AppendLine("```toml");
            sb.AppendLine(clipConfig.TrimEnd());
            sb.AppendLine("```");
            sb.AppendLine();
            sb.AppendLine("</details>");
            sb.AppendLine();
        }

        foreach (var pr in profiles)
        {
            sb.AppendLine($"## Results — {pr.Title}");
            sb.AppendLine();
            sb.AppendLine("| image | mode | runs | time to first output | range | pull | run → output | registry sent | % of image | layers lazy / unpacked (clip) | clip fetched (counter) | clip registry client read (counter) |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var i in images)
                foreach (var (mode, title) in Modes)
                {
                    if (!summaries.TryGetValue((pr.Name, i.Name, mode), out var s)) continue;
                    string runsCell = s.Failed > 0 ? $"{s.Runs} (+{s.Failed} failed)" : $"{s.Runs}";
                    if (s.Runs == 0)
                    {
                        sb.AppendLine($"| {i.Name} | {title} | {runsCell} | failed | | | | | | | | |");
                        continue;
                    }
                    sb.AppendLine($"| {i.Name} | {title} | {runsCell} | **{Sec(s.FirstOutput)}** | {Sec(s.FirstOutputMin)}–{Sec(s.FirstOutputMax)} | {Sec(s.Pull)} | {Sec(s.RunToOutput)} | " +
                        $"{Mb(s.RegistryBytes)} | {Pct(s.RegistryBytes, i.CompressedSize)} | {Lazy(s)} | {(s.ClipFetched is { } f ? Mb(f) + (s.ClipWholeLayers is > 0 and var w ? $" + {w:0} whole layer{(w == 1 ? "" : "s")}" : "") : "n/a")} | {(s.ClipRegistryReceived is { } rr ? Mb(rr) : "n/a")} |");
                }
            sb.AppendLine();
            int maxLayers = images.Max(i => i.Layers.Count);
            sb.AppendLine("Registry bytes by part (medians; a layer cell is bytes sent for that blob and its share of the compressed layer; \"counter check\" is clip's registry-client counter (`clip_registry_bytes_received_bytes_total`, all kinds) over the response body bytes the relay saw for requests carrying clip's User-Agent — 1.000× when clip's counters are right; \"veth (tc)\" is the byte counter of the tbf qdisc on the registry's side of the veth — IP packets, TCP/IP headers included — an independent check of the relay's count):");
            sb.AppendLine();
            sb.AppendLine("| image | mode | " + string.Join(" | ", Enumerable.Range(1, maxLayers).Select(n => $"layer {n}")) + " | manifest + config | clip index | other | counter check | veth (tc) |");
            sb.AppendLine("|---|---|" + string.Concat(Enumerable.Repeat("---|", maxLayers)) + "---|---|---|---|---|");
            foreach (var i in images)
                foreach (var (mode, _) in Modes)
                {
                    if (!summaries.TryGetValue((pr.Name, i.Name, mode), out var s) || s.Runs == 0) continue;
                    var cells = new List<string>();
                    for (int n = 0; n < maxLayers; n++)
                        cells.Add(n < i.Layers.Count ? $"{Mb(s.Parts.GetValueOrDefault($"layer {n + 1}"))} ({Pct(s.Parts.GetValueOrDefault($"layer {n + 1}"), i.Layers[n].Size)})" : "—");
                    double other = s.Parts.Where(kv => kv.Key is "ping" or "other" or "unattributed").Sum(kv => kv.Value);
                    string check = s.ClipRegistryReceived is { } f
                        ? s.RelayClipBodies > 0 ? $"{f / s.RelayClipBodies:0.000}× ({Mb(f)} / {Mb(s.RelayClipBodies)})" : $"{Mb(f)} / 0"
                        : "n/a";
                    sb.AppendLine($"| {i.Name} | {mode} | {string.Join(" | ", cells)} | {Mb(s.Parts.GetValueOrDefault("manifest+config"))} | {Mb(s.Parts.GetValueOrDefault("clip index"))} | {Mb(other)} | {check} | {(s.LinkBytes is { } lb ? Mb(lb) : "—")} |");
                }
            sb.AppendLine();
        }

        sb.AppendLine("## Goals (issue 6)");
        sb.AppendLine();
        var goalProfile = profiles.FirstOrDefault(x => x.Shaped && Math.Abs(x.BandwidthMbit - 100) < 0.01) ?? profiles.FirstOrDefault(x => x.Shaped) ?? profiles.FirstOrDefault();
        var python = images.FirstOrDefault(i => i.Name == "python") ?? images.FirstOrDefault();
        if (goalProfile is null || python is null)
        {
            sb.AppendLine("No shaped profile or no image was measured.");
        }
        else
        {
            Summary? S(string mode) => summaries.TryGetValue((goalProfile.Name, python.Name, mode), out var s) && s.Runs > 0 ? s : null;
            var oc = S("overlayfs-cold");
            var cc = S("clip-cold");
            var ow = S("overlayfs-warm");
            var cw = S("clip-warm");
            sb.AppendLine($"Image `{python.Name}`, profile {goalProfile.Title}.");
            sb.AppendLine();
            sb.AppendLine("| goal | target | measured | met |");
            sb.AppendLine("|---|---|---|---|");
            if (oc is not null && cc is not null)
            {
                double ratio = cc.FirstOutput / oc.FirstOutput;
                sb.AppendLine($"| clip cold start vs overlayfs cold start | ≤ 0.125× | {ratio:0.000}× ({Sec(cc.FirstOutput)} vs {Sec(oc.FirstOutput)}) | {(ratio <= 0.125 ? "yes" : "no")} |");
            }
            if (cc is not null)
            {
                double share = cc.RegistryBytes / python.CompressedSize;
                sb.AppendLine($"| bytes fetched for a clip cold start | ≤ 10 % of compressed image | {Pct(cc.RegistryBytes, python.CompressedSize)} ({Mb(cc.RegistryBytes)} of {Mb(python.CompressedSize)}) | {(share <= 0.10 ? "yes" : "no")} |");
            }
            if (ow is not null && cw is not null)
            {
                double ratio = cw.FirstOutput / ow.FirstOutput;
                sb.AppendLine($"| clip warm start vs overlayfs with the image pulled | ≤ 1.2× | {ratio:0.00}× ({Sec(cw.FirstOutput)} vs {Sec(ow.FirstOutput)}) | {(ratio <= 1.2 ? "yes" : "no")} |");
            }
            if (cc is not null && cc.ClipFetched is null)
            {
                sb.AppendLine();
                sb.AppendLine("clip's lazy-read counters were absent in these runs: layers were not served lazily (containerd downloaded and unpacked them through clip's overlayfs-compatible fallback), so the clip rows show fallback numbers, not the lazy path.");
            }
        }
        sb.AppendLine();

        var failed = runs.Where(r => r.Error is not null).ToList();
        if (failed.Count > 0)
        {
            sb.AppendLine("## Failed runs");
            sb.AppendLine();
            foreach (var r in failed)
                sb.AppendLine($"- {string.Join(' ', r.Labels.Select(kv => $"{kv.Key}={kv.Value}"))}: {r.Error!.ReplaceLineEndings(" ")}");
            sb.AppendLine();
        }

        sb.AppendLine("## Machine");
        sb.AppendLine();
        sb.AppendLine("| | |");
        sb.AppendLine("|---|---|");
        foreach (var (k, v) in MachineInfo.Collect()) sb.AppendLine($"| {k} | {v.ReplaceLineEndings(" ")} |");
        sb.AppendLine();
        sb.AppendLine("Raw per-run records (JSON, with every registry request) and logs stay in the run's results directory under `bench/out/netbench/`.");
        return sb.ToString();
    }

    private static async Task WriteCsvAsync(string path, List<RunRecord> runs, List<BenchImage> images)
    {
        var sb = new StringBuilder("profile,image,mode,rep,first_output_s,pull_s,run_to_output_s,registry_bytes,clip_fetched_bytes,error\n");
        foreach (var r in runs)
        {
            double? fetched = r.MetricsDelta?.Where(kv => PrometheusText.NameOf(kv.Key) == "clip_content_fetched_bytes_total").Select(kv => (double?)kv.Value).Sum();
            sb.AppendLine(string.Join(',',
                r.Labels.GetValueOrDefault("profile"), r.Labels.GetValueOrDefault("image"), r.Labels.GetValueOrDefault("mode"), r.Labels.GetValueOrDefault("rep"),
                r.FirstOutputSeconds?.ToString("0.000", Inv), r.PullSeconds?.ToString("0.000", Inv), r.RunFirstOutputSeconds?.ToString("0.000", Inv),
                r.Relay?.BytesDown.ToString(Inv), fetched?.ToString("0", Inv), r.Error is null ? "" : "\"" + r.Error.Replace("\"", "'", StringComparison.Ordinal).ReplaceLineEndings(" ") + "\""));
        }
        _ = images;
        await File.WriteAllTextAsync(path, sb.ToString());
    }
}
