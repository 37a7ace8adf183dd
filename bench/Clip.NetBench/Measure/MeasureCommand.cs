using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Clip.NetBench.Relay;

namespace Clip.NetBench.Measure;

/// <summary>One measured start, as written by <c>clip-netbench measure</c> and read by the report.</summary>
public sealed class RunRecord
{
    public Dictionary<string, string> Labels { get; set; } = [];
    public DateTime StartedUtc { get; set; }
    public string? Error { get; set; }
    public string? PullCommand { get; set; }
    public string RunCommand { get; set; } = "";
    /// <summary>Pull command start to its exit.</summary>
    public double? PullSeconds { get; set; }
    /// <summary>Run command start to the first byte on its stdout.</summary>
    public double? RunFirstOutputSeconds { get; set; }
    /// <summary>Pull start (or run start without a pull) to the first byte of output: the cold-start figure.</summary>
    public double? FirstOutputSeconds { get; set; }
    /// <summary>Run command start to its exit.</summary>
    public double? RunExitSeconds { get; set; }
    public int? PullExitCode { get; set; }
    public int? RunExitCode { get; set; }
    public string? Stdout { get; set; }
    public string? PullOutputTail { get; set; }
    public string? RunStderrTail { get; set; }
    /// <summary>The relay's view of the window (pull start to run exit): what the registry sent.</summary>
    public TrafficStats? Relay { get; set; }
    /// <summary>Deltas of the daemon's clip_* series over the window; null when /metrics was not reachable.</summary>
    public Dictionary<string, double>? MetricsDelta { get; set; }
    public string? MetricsError { get; set; }
    /// <summary>Delta of the <c>--link-bytes</c> command's number (tc's byte counter on the registry's veth: IP packets, headers included).</summary>
    public long? LinkBytes { get; set; }
}

/// <summary>
/// <c>clip-netbench measure</c>: resets the relay's window, runs the pull command, starts the run
/// command and timestamps the first byte it writes to stdout, waits for it to exit, then takes the
/// relay's byte counts and the daemon's metrics. Writes one <see cref="RunRecord"/> as JSON.
/// </summary>
public static class MeasureCommand
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static async Task<int> RunAsync(Args args)
    {
        string output = args.Require("out");
        string control = args.Require("control");
        string? metrics = args.Get("metrics");
        string? pull = args.Get("pull");
        string run = args.Require("run");
        string? linkBytes = args.Get("link-bytes");
        var timeout = TimeSpan.FromSeconds(args.Double("timeout-s", 900));
        var settle = TimeSpan.FromMilliseconds(args.Double("settle-ms", 250));
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string l in args.All("label"))
        {
            int eq = l.IndexOf('=');
            if (eq <= 0) throw new UsageException($"--label takes KEY=VALUE, not \"{l}\"");
            labels[l[..eq]] = l[(eq + 1)..];
        }
        args.CheckAllUsed();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var record = new RunRecord { Labels = labels, StartedUtc = DateTime.UtcNow, PullCommand = pull, RunCommand = run };
        Dictionary<string, double>? before = null;
        if (metrics is { Length: > 0 })
        {
            try { before = PrometheusText.Parse(await http.GetStringAsync(metrics)); }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { record.MetricsError = e.Message; }
        }

        long? linkBefore = linkBytes is { Length: > 0 } ? await ReadNumberAsync(linkBytes) : null;
        (await http.PostAsync($"http://{control}/reset", null)).EnsureSuccessStatusCode();
        long t0 = Stopwatch.GetTimestamp();
        try
        {
            if (pull is { Length: > 0 })
            {
                var p = await RunToExitAsync(pull, timeout);
                record.PullSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                record.PullExitCode = p.ExitCode;
                record.PullOutputTail = Tail(p.Output, 4000);
                if (p.ExitCode != 0) throw new MeasureException($"pull exited {p.ExitCode}: {Tail(p.Output, 600)}");
            }
            var r = await RunWithFirstOutputAsync(run, timeout);
            record.RunExitCode = r.ExitCode;
            record.Stdout = Tail(r.Stdout, 4000);
            record.RunStderrTail = Tail(r.Stderr, 4000);
            record.RunExitSeconds = r.Exit.TotalSeconds;
            if (r.FirstOutputAt is { } first)
            {
                record.RunFirstOutputSeconds = Stopwatch.GetElapsedTime(r.StartedAt, first).TotalSeconds;
                record.FirstOutputSeconds = Stopwatch.GetElapsedTime(t0, first).TotalSeconds;
            }
            if (r.ExitCode != 0) throw new MeasureException($"run exited {r.ExitCode}: {Tail(r.Stderr + r.Stdout, 600)}");
            if (r.FirstOutputAt is null) throw new MeasureException("run wrote nothing to stdout");
        }
        catch (MeasureException e)
        {
            record.Error = e.Message;
        }
        await Task.Delay(settle);
        if (linkBefore is { } lb && await ReadNumberAsync(linkBytes!) is { } la) record.LinkBytes = la - lb;
        record.Relay = JsonSerializer.Deserialize<TrafficStats>(await http.GetStringAsync($"http://{control}/stats"), ControlServer.Json);
        if (metrics is { Length: > 0 } && record.MetricsError is null)
        {
            try { record.MetricsDelta = PrometheusText.Delta(before, PrometheusText.Parse(await http.GetStringAsync(metrics)), "clip_"); }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { record.MetricsError = e.Message; }
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        await File.WriteAllTextAsync(output, JsonSerializer.Serialize(record, Json));
        Console.WriteLine(
            $"{string.Join(' ', labels.Select(kv => $"{kv.Key}={kv.Value}"))}: first output {Fmt(record.FirstOutputSeconds)} s " +
            $"(pull {Fmt(record.PullSeconds)} s, run->output {Fmt(record.RunFirstOutputSeconds)} s), registry sent {record.Relay?.BytesDown ?? 0} bytes" +
            (record.MetricsDelta is { } md ? $", clip_content_fetched_bytes {md.Where(kv => PrometheusText.NameOf(kv.Key) == "clip_content_fetched_bytes_total").Sum(kv => kv.Value)}" : ", clip metrics n/a") +
            (record.Error is { } err ? $"; FAILED: {err}" : ""));
        return record.Error is null ? 0 : 1;
    }

    /// <summary>Runs a shell command that prints one integer (e.g. a tc byte counter); null when it does not.</summary>
    private static async Task<long?> ReadNumberAsync(string command)
    {
        var (code, output) = await RunToExitAsync(command, TimeSpan.FromSeconds(30));
        return code == 0 && long.TryParse(output.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : null;
    }

    private static string Fmt(double? v) => v is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "n/a";

    private sealed class MeasureException(string message) : Exception(message);

    private static ProcessStartInfo Shell(string command)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        return psi;
    }

    private static async Task<(int ExitCode, string Output)> RunToExitAsync(string command, TimeSpan timeout)
    {
        using var p = Process.Start(Shell(command)) ?? throw new MeasureException($"cannot start: {command}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await WaitAsync(p, timeout, command);
        return (p.ExitCode, await stdout + await stderr);
    }

    /// <summary>Runs a command; <c>FirstOutputAt</c> is the Stopwatch timestamp of the first stdout byte.</summary>
    private static async Task<(int ExitCode, long StartedAt, long? FirstOutputAt, TimeSpan Exit, string Stdout, string Stderr)> RunWithFirstOutputAsync(string command, TimeSpan timeout)
    {
        var psi = Shell(command);
        long start = Stopwatch.GetTimestamp();
        using var p = Process.Start(psi) ?? throw new MeasureException($"cannot start: {command}");
        long? first = null;
        var collected = new MemoryStream();
        var stderr = p.StandardError.ReadToEndAsync();
        var reader = Task.Run(async () =>
        {
            var buf = new byte[16384];
            var stream = p.StandardOutput.BaseStream;
            int n;
            while ((n = await stream.ReadAsync(buf)) > 0)
            {
                first ??= Stopwatch.GetTimestamp();
                collected.Write(buf, 0, n);
            }
        });
        await WaitAsync(p, timeout, command);
        var exit = Stopwatch.GetElapsedTime(start);
        await reader;
        return (p.ExitCode, start, first, exit, Encoding.UTF8.GetString(collected.ToArray()), await stderr);
    }

    private static async Task WaitAsync(Process p, TimeSpan timeout, string command)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new MeasureException($"timed out after {timeout.TotalSeconds:0} s: {command}");
        }
    }

    private static string Tail(string s, int max) => s.Length <= max ? s : "…" + s[^max..];
}
