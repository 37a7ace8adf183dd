using System.Diagnostics;
using System.Text;
using Clip.Gzip;
using Clip.Index;
using Clip.Index.Build;
using Clip.Index.Format;
using Clip.Oci;

namespace Clip.Bench;

/// <summary>
/// Index benchmarks for one image in an OCI layout: indexing time against plain gunzip of the same
/// blobs, index size, index load cost (and for a synthetic 100k-entry layer), 4 KiB random reads.
/// Blobs are read from the page cache (a warm-up pass first), so CPU work is what is compared.
/// </summary>
internal static class IndexBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        string location = args[0];
        int runs = ArgInt(args, "--runs", 3);
        string? report = ArgString(args, "--report");
        var (dir, tag) = OciLayout.ParseLocation(location);
        var layout = OciLayout.Open(dir);
        var image = layout.Resolve(tag);
        var blobs = image.Manifest.Layers.Select(l => (Desc: l, Path: layout.BlobPath(Digest.Parse(l.Digest)))).ToList();
        foreach (var b in blobs) await using (var f = File.OpenRead(b.Path)) await f.CopyToAsync(Stream.Null); // warm the page cache

        var md = new StringBuilder();
        void Line(string s) { Console.WriteLine(s); md.AppendLine(s); }
        Line($"# Index benchmark: {location}");
        Line("");
        Line($"Machine: {Stats.MachineInfo()}");
        Line($"Command: `clip-bench index {string.Join(' ', args)}` (median of {runs} runs, blobs in page cache)");
        Line("");

        // Baselines: GNU gzip and an in-process zlib inflate loop, both decompressing to nowhere.
        var gzipTimes = new List<double>();
        var inflateTimes = new List<double>();
        var indexTimes = new List<double>();
        IReadOnlyList<LayerIndex>? layers = null;
        ImageInfo? info = null;
        var opts = new LayerIndexOptions();
        for (int r = 0; r < runs; r++)
        {
            gzipTimes.Add(blobs.Where(b => MediaTypes.CompressionOf(b.Desc.MediaType) == LayerCompression.Gzip)
                .Sum(b => Stats.TimeProcess("gzip", $"-dc '{b.Path}' > /dev/null")));
            var sw = Stopwatch.StartNew();
            foreach (var b in blobs.Where(b => MediaTypes.CompressionOf(b.Desc.MediaType) == LayerCompression.Gzip)) InflateOnly(b.Path);
            inflateTimes.Add(sw.Elapsed.TotalSeconds);
            sw.Restart();
            (info, layers) = await ImageIndexer.IndexAsync(image, (d, _) => Task.FromResult<Stream>(
                new FileStream(layout.BlobPath(Digest.Parse(d.Digest)), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan)), opts);
            indexTimes.Add(sw.Elapsed.TotalSeconds);
        }
        long compressed = layers!.Sum(l => l.CompressedSize), uncompressed = layers!.Sum(l => l.UncompressedSize);
        var bytes = ClipIndexFile.Serialize(info, layers!.Select(l => l.Section));
        double gz = Stats.Median(gzipTimes), inf = Stats.Median(inflateTimes), idx = Stats.Median(indexTimes);

        Line($"Image: {layers!.Count} layers, {Stats.MiB(compressed)} compressed, {Stats.MiB(uncompressed)} uncompressed, {layers.Sum(l => l.EntryCount)} entries, span {opts.SpanSize >> 20} MiB");
        Line("");
        Line("| measure | value | goal |");
        Line("|---|---|---|");
        Line($"| `gzip -dc` of all layers | {Stats.F(gz)} s | |");
        Line($"| zlib inflate only (in-process) | {Stats.F(inf)} s | |");
        Line($"| `clip index` (digest + chunk hashes + checkpoints + tar + diff ID) | {Stats.F(idx)} s | |");
        Line($"| index time / gzip -dc | {Stats.F(idx / gz)}× | ≤ 1.15× |");
        Line($"| index time / zlib inflate | {Stats.F(idx / inf)}× | |");
        Line($"| index size | {Stats.F(bytes.Length / 1024.0, "0")} KiB = {Stats.F(100.0 * bytes.Length / uncompressed, "0.000")}% of uncompressed | ≤ 1.5% |");

        var (loadMs, loadAlloc) = MeasureLoad(bytes);
        Line($"| index load (parse + sha256 + validate) | {Stats.F(loadMs, "0.00")} ms, {Stats.F(loadAlloc / 1024.0, "0")} KiB allocated beyond the file bytes | |");

        var synthetic = await SyntheticIndexAsync(100_000);
        var (sMs, sAlloc) = MeasureLoad(synthetic);
        Line($"| load of a 100,000-entry index ({Stats.F(synthetic.Length / 1048576.0, "0.0")} MiB) | {Stats.F(sMs, "0.00")} ms, {Stats.F(sAlloc / 1024.0, "0")} KiB allocated beyond the file bytes | cheap |");

        var lat = await RandomReadsAsync(layout, layers, 2000);
        Line($"| 4 KiB random read, local blob, cold (p50 / p90 / p99) | {Stats.F(Stats.Percentile(lat, 50), "0.00")} / {Stats.F(Stats.Percentile(lat, 90), "0.00")} / {Stats.F(Stats.Percentile(lat, 99), "0.00")} ms | |");
        Line("");
        Line("Per layer:");
        Line("");
        Line("| layer | compressed | uncompressed | entries | checkpoints | index section |");
        Line("|---|---|---|---|---|---|");
        foreach (var l in layers)
            Line($"| {l.Digest.Hex[..12]} | {Stats.MiB(l.CompressedSize)} | {Stats.MiB(l.UncompressedSize)} | {l.EntryCount} | {l.Checkpoints.Count} | {Stats.F(l.SectionSize / 1024.0, "0")} KiB |");
        if (report is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(report))!);
            await File.WriteAllTextAsync(report, md.ToString());
        }
        return 0;
    }

    private static void InflateOnly(string path)
    {
        using var d = GzipDecoder.AtBeginning();
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        var input = new byte[1 << 20];
        var output = new byte[1 << 20];
        int n;
        while ((n = f.Read(input)) > 0)
        {
            int pos = 0;
            while (true)
            {
                var step = d.Decode(input.AsSpan(pos, n - pos), output, false, false);
                pos += step.Consumed;
                if (step.Consumed == 0 && step.Produced == 0) break;
            }
        }
        d.Decode([], output, false, true);
    }

    private static (double Ms, long Allocated) MeasureLoad(byte[] bytes)
    {
        ClipIndexFile.Parse(bytes); // JIT
        var times = new List<double>();
        long alloc = 0;
        for (int i = 0; i < 20; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var sw = Stopwatch.StartNew();
            var f = ClipIndexFile.Parse(bytes);
            times.Add(sw.Elapsed.TotalMilliseconds);
            alloc = GC.GetAllocatedBytesForCurrentThread() - before;
            GC.KeepAlive(f);
        }
        return (Stats.Median(times), alloc);
    }

    /// <summary>A layer of <paramref name="count"/> small files in 1000-file directories, indexed and serialised.</summary>
    private static async Task<byte[]> SyntheticIndexAsync(int count)
    {
        var tar = new MemoryStream();
        using (var w = new System.Formats.Tar.TarWriter(tar, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true))
        {
            var data = Encoding.ASCII.GetBytes("synthetic file content\n");
            for (int i = 0; i < count; i++)
            {
                var e = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, $"usr/share/dir{i / 1000:D3}/file-{i:D6}.txt")
                {
                    DataStream = new MemoryStream(data), Mode = (UnixFileMode)0b110_100_100, ModificationTime = DateTimeOffset.UnixEpoch,
                };
                w.WriteEntry(e);
            }
        }
        var gz = new MemoryStream();
        using (var z = new System.IO.Compression.GZipStream(gz, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true)) z.Write(tar.GetBuffer(), 0, (int)tar.Length);
        var blob = gz.ToArray();
        var layer = await LayerIndexer.IndexAsync(new MemoryStream(blob), Digest.Sha256(blob), MediaTypes.OciLayerGzip, blob.Length, new LayerIndexOptions());
        if (layer.EntryCount < count) throw new InvalidOperationException("synthetic layer lost entries");
        return ClipIndexFile.Serialize(null, [layer.Section]);
    }

    /// <summary>Latency of 4 KiB reads at random offsets of random regular files, each a cold resume from a checkpoint.</summary>
    private static async Task<List<double>> RandomReadsAsync(OciLayout layout, IReadOnlyList<LayerIndex> layers, int count)
    {
        var files = layers.SelectMany((l, li) => l.Entries().Where(e => e.Type == EntryType.Regular && e.Size > 0).Select(e => (li, e))).ToList();
        var rng = new Random(1);
        var sources = layers.Select(l => new FileRangeSource(layout.BlobPath(l.Digest))).ToArray();
        var readers = layers.Select((l, i) => l.Compression == LayerCompression.Gzip ? new GzipRandomReader(l.Checkpoints, l.UncompressedSize, sources[i]) : null).ToArray();
        var buf = new byte[4096];
        var lat = new List<double>();
        for (int i = 0; i < count + 50; i++)
        {
            var (li, e) = files[rng.Next(files.Count)];
            long off = e.Size > buf.Length ? rng.NextInt64(e.Size - buf.Length) : 0;
            int len = (int)Math.Min(buf.Length, e.Size);
            var sw = Stopwatch.StartNew();
            if (readers[li] is { } r) await r.ReadAsync(e.DataOffset + off, buf.AsMemory(0, len), e.CompleteBy, default);
            else await sources[li].ReadAsync(e.DataOffset.Value + off, buf.AsMemory(0, len), default);
            if (i >= 50) lat.Add(sw.Elapsed.TotalMilliseconds); // first 50 warm up the JIT
        }
        foreach (var s in sources) s.Dispose();
        return lat;
    }

    private static int ArgInt(string[] args, string name, int dflt)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : dflt;
    }

    private static string? ArgString(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
