using System.Diagnostics;
using System.Text.RegularExpressions;
using Clip.Fuse.Tests.Support;
using Clip.Testing;
using Xunit.Abstractions;

namespace Clip.Fuse.Tests.Benchmarks;

/// <summary>Runs only when CLIP_FUSE_BENCH=1 (and as root); otherwise skipped.</summary>
public sealed class BenchmarkFactAttribute : FactAttribute
{
    public BenchmarkFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("CLIP_FUSE_BENCH") != "1") Skip = "benchmark: set CLIP_FUSE_BENCH=1";
        else if (!Environment.IsPrivilegedProcess) Skip = "benchmark needs root";
    }
}

/// <summary>
/// The benchmark entry point: <c>CLIP_FUSE_BENCH=1 dotnet test tests/Clip.Fuse.Tests --filter FullyQualifiedName~Benchmark
/// --logger "console;verbosity=detailed"</c>. Sequential dd of a 200 MB in-memory file through the mount, against
/// the same bytes on tmpfs, and a metadata walk.
/// </summary>
public class ThroughputBenchmark(ITestOutputHelper output)
{
    private const int Size = 200 << 20;

    [BenchmarkFact]
    public async Task Sequential_read_of_200_MB_through_fuse_and_from_tmpfs()
    {
        var data = new byte[Size];
        new Random(1).NextBytes(data);
        var shm = $"/dev/shm/clip-bench-{Environment.ProcessId}";
        await File.WriteAllBytesAsync(shm, data);
        try
        {
            output.WriteLine($"tmpfs                       : {await Dd(shm)}");
            foreach (var (label, reads, maxRead) in new[]
                     {
                         ("fuse sync, 1 MiB reads     ", ReadBehavior.Synchronous, 1 << 20),
                         ("fuse async, 1 MiB reads    ", ReadBehavior.Yield, 1 << 20),
                         ("fuse sync, 128 KiB reads   ", ReadBehavior.Synchronous, 128 << 10),
                     })
            {
                // A fresh mount per run: the first pass is served by the server, the second by the page cache.
                var cold = new List<double>();
                var warm = new List<double>();
                long requests = 0;
                for (int run = 0; run < 3; run++)
                {
                    var fs = new TestFileSystem();
                    fs.Root.AddFile("big", data, reads: reads);
                    await using var m = await Mounted.StartAsync(fs, options: new FuseServerOptions { MaxRead = maxRead, MaxReadahead = maxRead });
                    cold.Add(await Seconds(m["big"]));
                    warm.Add(await Seconds(m["big"]));
                    requests = m.Server.Statistics.Requests(Clip.Fuse.Protocol.FuseOpcode.Read);
                }
                output.WriteLine($"{label} : server {Rate(cold)}; page cache {Rate(warm)}; {requests} READs of {Size / Math.Max(1, requests) >> 10} KiB");
            }
        }
        finally
        {
            File.Delete(shm);
        }
    }

    [BenchmarkFact]
    public async Task Metadata_walk_of_20000_files()
    {
        var fs = new TestFileSystem();
        for (int d = 0; d < 100; d++)
        {
            var dir = fs.Root.AddDirectory($"d{d:D3}");
            for (int f = 0; f < 200; f++) dir.AddFile($"file-{f:D4}.py", []);
        }
        await using var m = await Mounted.StartAsync(fs);
        foreach (var pass in new[] { "cold", "cached" })
        {
            var sw = Stopwatch.StartNew();
            int n = 0;
            foreach (var path in Directory.EnumerateFiles(m.MountPoint, "*", SearchOption.AllDirectories))
            {
                Clip.Interop.Libc.LStat(path);
                n++;
            }
            sw.Stop();
            output.WriteLine($"walk + lstat, {pass}: {n} files in {sw.ElapsedMilliseconds} ms ({n / sw.Elapsed.TotalSeconds:F0}/s), " +
                $"{m.Server.Statistics.TotalRequests} requests so far");
        }
    }

    private static async Task<string> Dd(string path)
    {
        var runs = new List<double>();
        for (int i = 0; i < 3; i++) runs.Add(await Seconds(path));
        return Rate(runs);
    }

    /// <summary>Seconds dd takes to read <paramref name="path"/> in 1 MiB blocks.</summary>
    private static async Task<double> Seconds(string path)
    {
        var r = await Proc.RunAsync("dd", "if=" + path, "of=/dev/null", "bs=1M");
        r.EnsureSuccess("dd");
        var match = Regex.Match(r.StdErr, @"copied, ([\d.]+) s");
        return double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Median throughput of the runs, in MB/s (dd's unit).</summary>
    private static string Rate(List<double> seconds)
    {
        var median = seconds.Order().ElementAt(seconds.Count / 2);
        return $"{Size / median / 1e6:F0} MB/s";
    }
}
