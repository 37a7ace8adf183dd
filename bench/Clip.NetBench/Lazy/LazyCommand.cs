using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Clip.Content;
using Clip.Gzip;
using Clip.Index;
using Clip.Index.Build;
using Clip.Index.Format;
using Clip.NetBench.Relay;
using Clip.Oci;
using Clip.Registry;

namespace Clip.NetBench.Lazy;

/// <summary>
/// <c>clip-netbench lazy</c> (issue 3): a real docker-registry on loopback holding a generated
/// single-layer image (≥ 200 MB tar, many small files); the image is indexed, the index pushed as
/// an artifact and fetched back as a fresh node would; then single 4 KiB files are read cold
/// through clip's lazy reader (Clip.Content: <see cref="RemoteLayers.OpenReader"/>,
/// <see cref="SpanCache"/>, <see cref="ReadStatistics"/>), each with an empty cache. Bytes are
/// counted twice: by clip (<see cref="ReadStatistics"/>) and on the wire by a counting relay in
/// front of the registry (HTTP heads included). Then repeated reads of a cached file give the
/// cache-hit latency.
/// </summary>
public static class LazyCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private sealed record FileResult(int Number, string Path, ContentKind Kind, int Span, long OffsetInSpan, long SpanOut, long SpanCompressed,
        long Needed, long ClipFetched, long ClipFetches, long WireBody, long WireHeads, long WireRequestBytes, int Requests,
        double ColdMs, double NewClientMs, long NewClientWire, int NewClientRequests, bool Verified, string RequestLines);

    public static async Task<int> RunAsync(Args args)
    {
        long sizeBytes = args.Int("size-mb", 224) * 1024L * 1024;
        int fileCount = args.Int("files", 12);
        double spanMib = args.Double("span-mib", 4);
        int hitReads = args.Int("hit-reads", 2000);
        string work = args.Get("work") ?? Path.Combine(Path.GetTempPath(), $"clip-lazy-bench-{Environment.ProcessId}");
        string report = args.Get("report") ?? "docs/bench-lazy.md";
        bool keep = args.Flag("keep");
        string? note = args.Get("note");
        args.CheckAllUsed();
        if (sizeBytes < 16 << 20 || fileCount < 1 || spanMib <= 0 || hitReads < 100) throw new UsageException("--size-mb ≥ 16, --files ≥ 1, --span-mib > 0, --hit-reads ≥ 100");

        Directory.CreateDirectory(work);
        try
        {
            string text = await RunInAsync(work, sizeBytes, fileCount, (long)(spanMib * 1024 * 1024), hitReads);
            if (note is { Length: > 0 }) text = text.Replace("; do not edit by hand.", $"; do not edit by hand. {note}", StringComparison.Ordinal);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(report))!);
            await File.WriteAllTextAsync(report, text);
            Console.WriteLine(text);
            Console.Error.WriteLine($"wrote {report}");
            return 0;
        }
        finally
        {
            if (!keep) Directory.Delete(work, recursive: true);
        }
    }

    private static void Step(string message) => Console.Error.WriteLine($"[lazy] {DateTime.Now:HH:mm:ss} {message}");

    private static async Task<string> RunInAsync(string work, long sizeBytes, int fileCount, long spanSize, int hitReads)
    {
        var started = DateTime.UtcNow;
        Step($"generating a {sizeBytes >> 20} MiB layer in {work}");
        var sw = Stopwatch.StartNew();
        var layer = LayerGenerator.Write(Path.Combine(work, "layer.tar.gz"), sizeBytes);
        var generateTime = sw.Elapsed;
        Step($"layer {layer.Digest[..19]}: {layer.UncompressedSize} bytes tar, {layer.CompressedSize} gzip, {layer.Files} files, in {generateTime.TotalSeconds:0.0} s");

        await using var registry = await LocalRegistry.StartAsync(Path.Combine(work, "registry"));
        var log = new TrafficLog(TimeSpan.Zero);
        await using var relay = new DelayRelay(new IPEndPoint(IPAddress.Loopback, 0), registry.Endpoint, TimeSpan.Zero, log);
        relay.Start();
        var options = new RegistryClientOptions { PlainHttp = true, HostsDirectory = null };

        // Push straight to the registry (not counted); everything after goes through the relay.
        Step($"pushing to 127.0.0.1:{registry.Port}");
        using (var direct = new RegistryClient(options))
        {
            var repo = new RepositoryName($"127.0.0.1:{registry.Port}", "bench/lazy");
            string arch = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
            {
                System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
                _ => "amd64",
            };
            byte[] config = Encoding.UTF8.GetBytes(
                $"{{\"architecture\":\"{arch}\",\"os\":\"linux\",\"config\":{{}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{layer.DiffId}\"]}}}}");
            var configDesc = await direct.PushBlobAsync(repo, config, MediaTypes.OciConfig);
            await direct.PushBlobFileAsync(repo, Digest.Parse(layer.Digest), layer.BlobPath);
            byte[] manifest = Encoding.UTF8.GetBytes(
                $"{{\"schemaVersion\":2,\"mediaType\":\"{MediaTypes.OciManifest}\"," +
                $"\"config\":{{\"mediaType\":\"{MediaTypes.OciConfig}\",\"digest\":\"{configDesc.Digest}\",\"size\":{config.Length}}}," +
                $"\"layers\":[{{\"mediaType\":\"{MediaTypes.OciLayerGzip}\",\"digest\":\"{layer.Digest}\",\"size\":{layer.CompressedSize}}}]}}");
            await direct.PushManifestAsync(repo, manifest, MediaTypes.OciManifest, "v1");
        }

        var reference = Reference.Parse($"127.0.0.1:{relay.LocalEndpoint.Port}/bench/lazy:v1");
        var indexOptions = new LayerIndexOptions { SpanSize = spanSize };

        // Index once (the CI step: stream the layer, push the index as an artifact) ...
        Step("indexing (streams the layer once) and pushing the index artifact");
        TimeSpan indexTime;
        using (var indexer = new RegistryClient(options))
        {
            var provider = new ImageIndexProvider(indexer, new IndexStore(Path.Combine(work, "index-build")), indexOptions);
            sw.Restart();
            var built = await provider.GetImageAsync(reference, allowIndexing: true);
            indexTime = sw.Elapsed;
            await RegistryIndexes.PushAsync(indexer, built.Resolved.Repository, built.Resolved.ManifestDescriptor, built.Image, built.Layers);
        }

        // ... and fetch it as a fresh node does before its first read.
        using var client = new RegistryClient(options);
        log.Reset();
        sw.Restart();
        var node = await new ImageIndexProvider(client, new IndexStore(Path.Combine(work, "index-node")), indexOptions)
            .GetImageAsync(reference, allowIndexing: false);
        var indexFetchTime = sw.Elapsed;
        var indexFetch = log.Snapshot();
        if (node.Origin != IndexOrigin.Registry) throw new InvalidOperationException($"expected the index from the registry, got it from {node.Origin}");
        var index = node.Layers.Single();
        var repository = node.Resolved.Repository;
        long indexFileSize = ClipIndexFile.Serialize(node.Image, node.Layers.Select(l => l.Section)).Length;

        // Whole-layer download through the same relay, for scale.
        log.Reset();
        sw.Restart();
        string whole = Path.Combine(work, "whole.blob");
        await client.DownloadBlobAsync(repository, index.Digest, whole, index.CompressedSize);
        var wholeTime = sw.Elapsed;
        File.Delete(whole);

        var picked = Pick(index, layer.Candidates, fileCount);

        // Warm-up, not measured: JIT and the first connection would otherwise be charged to file 1.
        var spare = layer.Candidates.Where(c => picked.All(p => p.Item1.Path != c.Path)).Take(2)
            .Select(c => index.Find(c.Path)).Where(e => e is not null).Select(e => e!.Value).ToList();
        for (int w = 0; w < spare.Count; w++)
        {
            string dir = Path.Combine(work, $"cache-warmup-{w}");
            using var warmClient = new RegistryClient(options);
            foreach (var c in new[] { client, warmClient })
            {
                using var r = RemoteLayers.OpenReader(c, node.Resolved.Repository, index, new SpanCache(dir, 1L << 30),
                    new ContentOptions { CacheDirectory = dir, BackgroundFetch = false });
                await r.ReadAsync(spare[w], 0, new byte[4096], CancellationToken.None);
                for (int k = 0; k < 500; k++) await r.ReadAsync(spare[w], 0, new byte[4096], CancellationToken.None);
                Directory.Delete(dir, true);
            }
        }
        Step($"reading {picked.Count} files of 4 KiB cold, each with an empty cache");
        var results = new List<FileResult>();
        var hitSamples = new List<double>();
        byte[] buffer = new byte[4096];
        for (int i = 0; i < picked.Count; i++)
        {
            var (candidate, entry) = picked[i];
            var cps = index.Checkpoints;
            int s = GzipRandomReader.FindSpan(cps, entry.DataOffset).Value;
            long spanOut = cps[s].Out.Value;
            long spanOutEnd = s + 1 < cps.Count ? cps[s + 1].Out.Value : index.UncompressedSize;
            long spanInEnd = s + 1 < cps.Count ? cps[s + 1].In.Value : index.CompressedSize;
            long spanCompressed = spanInEnd - cps[s].FetchStart.Value;
            long needed = entry.CompleteBy.Value > 0 ? entry.CompleteBy.Value - cps[s].FetchStart.Value : -1;

            // Cold read on a client whose connection is already open (what the daemon has).
            string cacheDir = Path.Combine(work, $"cache-{i}");
            var stats = new ReadStatistics();
            var content = new ContentOptions { CacheDirectory = cacheDir, BackgroundFetch = false };
            using var reader = RemoteLayers.OpenReader(client, repository, index, new SpanCache(cacheDir, 1L << 30), content, stats: stats);
            log.Reset();
            long t0 = Stopwatch.GetTimestamp();
            int n = await reader.ReadAsync(entry, 0, buffer, CancellationToken.None);
            double coldMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            var wire = log.Snapshot();
            bool verified = n == 4096 && SHA256.HashData(buffer).AsSpan().SequenceEqual(candidate.Sha256);
            long fetched = stats.FetchedBytes, fetches = stats.Fetches;

            // Cache hits: the same 4 KiB again, from the span cache.
            for (int r = 0; r < hitReads + 200; r++)
            {
                long h = Stopwatch.GetTimestamp();
                int got = await reader.ReadAsync(entry, 0, buffer, CancellationToken.None);
                double ms = Stopwatch.GetElapsedTime(h).TotalMilliseconds;
                if (got != 4096) throw new IOException($"{candidate.Path}: cached read returned {got} bytes");
                if (r >= 200) hitSamples.Add(ms);
            }
            if (stats.FetchedBytes != fetched) throw new InvalidOperationException($"{candidate.Path}: cached reads fetched {stats.FetchedBytes - fetched} more bytes");
            verified &= SHA256.HashData(buffer).AsSpan().SequenceEqual(candidate.Sha256);

            // Cold read on a brand-new client: connection set-up and the registry's /v2/ check included.
            string cacheDir2 = Path.Combine(work, $"cache-{i}-new");
            using var freshClient = new RegistryClient(options);
            using var freshReader = RemoteLayers.OpenReader(freshClient, repository, index, new SpanCache(cacheDir2, 1L << 30),
                content with { CacheDirectory = cacheDir2 });
            log.Reset();
            t0 = Stopwatch.GetTimestamp();
            await freshReader.ReadAsync(entry, 0, buffer, CancellationToken.None);
            double newClientMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            var newClient = log.Snapshot();
            long newClientWire = newClient.BytesDown;
            verified &= SHA256.HashData(buffer).AsSpan().SequenceEqual(candidate.Sha256);

            results.Add(new FileResult(i + 1, candidate.Path, candidate.Kind, s, entry.DataOffset.Value - spanOut, spanOutEnd - spanOut, spanCompressed, needed,
                fetched, fetches, wire.Requests.Sum(q => q.ResponseBodyBytes), wire.Requests.Sum(q => q.ResponseHeadBytes), wire.BytesUp, wire.Requests.Count,
                coldMs, newClientMs, newClientWire, newClient.Requests.Count, verified,
                string.Join("; ", wire.Requests.Select(q => $"{q.Method} {q.Range ?? "(no range)"} → {q.Status}"))));
            Directory.Delete(cacheDir, true);
            Directory.Delete(cacheDir2, true);
        }

        return Markdown(started, layer, generateTime, index, indexTime, indexFileSize, indexFetch, indexFetchTime, wholeTime, results, hitSamples, spanSize);
    }

    /// <summary>
    /// 4 KiB files spread over the layer: half text, half binary/mixed, each group taken at evenly
    /// spaced positions of "offset inside its span" (a file at a span's end costs the most) and in
    /// distinct spans.
    /// </summary>
    private static List<(Candidate, Entry)> Pick(LayerIndex index, IReadOnlyList<Candidate> candidates, int count)
    {
        var cps = index.Checkpoints;
        var located = candidates.Select(c => (Candidate: c, Entry: index.Find(c.Path)))
            .Where(x => x.Entry is { } e && e.Type == EntryType.Regular && e.Size == 4096)
            .Select(x =>
            {
                var e = x.Entry!.Value;
                int s = GzipRandomReader.FindSpan(cps, e.DataOffset).Value;
                long start = cps[s].Out.Value, end = s + 1 < cps.Count ? cps[s + 1].Out.Value : index.UncompressedSize;
                return (x.Candidate, Entry: e, Span: s, Relative: (double)(e.DataOffset.Value - start) / Math.Max(1, end - start));
            })
            .ToList();
        var picked = new List<(Candidate, Entry)>();
        var usedSpans = new HashSet<int>();
        int textWant = (count + 1) / 2;
        foreach (var (group, want) in new[]
                 {
                     (located.Where(x => x.Candidate.Kind == ContentKind.Text).ToList(), textWant),
                     (located.Where(x => x.Candidate.Kind != ContentKind.Text).ToList(), count - textWant),
                 })
        {
            var ordered = group.OrderBy(x => x.Relative).ToList();
            for (int k = 0; k < want && ordered.Count > 0; k++)
            {
                double target = want == 1 ? 0.5 : (double)k / (want - 1);
                var pool = ordered.Where(x => !usedSpans.Contains(x.Span)).ToList();
                var best = (pool.Count > 0 ? pool : ordered).MinBy(x => Math.Abs(x.Relative - target));
                picked.Add((best.Candidate, best.Entry));
                usedSpans.Add(best.Span);
                ordered.Remove(best);
            }
        }
        return picked;
    }

    private static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    private static string Kb(double bytes) => (bytes / 1024).ToString("0.0", Inv) + " KiB";
    private static string Mb(double bytes) => (bytes / (1024 * 1024)).ToString("0.0", Inv) + " MiB";

    private static string Markdown(DateTime started, GeneratedLayer layer, TimeSpan generateTime, LayerIndex index, TimeSpan indexTime, long indexFileSize,
        TrafficStats indexFetch, TimeSpan indexFetchTime, TimeSpan wholeTime, List<FileResult> results, List<double> hits, long spanSize)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Lazy reads from a registry: bytes and latency of one small file");
        sb.AppendLine();
        sb.AppendLine($"Written by the benchmark itself (`bench/lazy/run.sh` → `clip-netbench lazy`) on {started:yyyy-MM-dd HH:mm} UTC; do not edit by hand.");
        sb.AppendLine();
        sb.AppendLine("## Set-up");
        sb.AppendLine();
        sb.AppendLine("- A real `docker-registry` (distribution 2.8) on 127.0.0.1, in front of it the bench's counting relay (no delay, no shaping): every byte the registry sends is counted on the wire, per HTTP request (heads and bodies).");
        sb.AppendLine($"- One image with a single gzip layer, generated deterministically in code (xoshiro256** seed 42, .NET GZipStream at the default level): {layer.Files:N0} files in {layer.Directories} directories — small text, binary and mixed-entropy files (40 % exactly 4 KiB, the rest 100 B–64 KiB) with large 8 MiB files in between. " +
            $"Tar {Mb(layer.UncompressedSize)} ({layer.UncompressedSize:N0} bytes), gzip {Mb(layer.CompressedSize)} ({layer.CompressedSize:N0} bytes); generated in {generateTime.TotalSeconds:0.0} s.");
        sb.AppendLine($"- Index: span size {Mb(spanSize)} → {index.Checkpoints.Count} checkpoints, {index.EntryCount:N0} entries, verification chunk {index.ChunkSize / 1024} KiB; built in {indexTime.TotalSeconds:0.0} s (streaming the layer once from the registry), " +
            $"{Kb(indexFileSize)} as a .clip file. A fresh node fetches it (referrers tag, artifact manifest, blobs) in {indexFetchTime.TotalMilliseconds:0} ms: {indexFetch.Requests.Count} requests, {Kb(indexFetch.BytesDown)} on the wire.");
        sb.AppendLine($"- For scale: downloading the whole layer through the same relay takes {wholeTime.TotalMilliseconds:0} ms.");
        sb.AppendLine("- Each file is read once cold (4 KiB from offset 0) through `RemoteLayers.OpenReader` with an empty `SpanCache`, on a registry client whose connection is already open; " +
            "then again on a brand-new client (its TCP connection set-up and any requests it makes first included; the request count is shown). \"span compressed\" is the compressed size of the file's span (from its checkpoint to the next); " +
            "\"needed\" is the least a reader could fetch from that checkpoint (up to the compressed offset where the file is complete, from the index).");
        sb.AppendLine();
        sb.AppendLine("## Per file");
        sb.AppendLine();
        sb.AppendLine("| # | file | kind | span | offset in span | span compressed | needed | clip fetched (ReadStatistics) | registry sent: body + heads (requests) | fetched / span | cold read | cold read, new client | bytes ok |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            sb.AppendLine(string.Create(Inv,
                $"| {r.Number} | `{r.Path}` | {r.Kind.ToString().ToLowerInvariant()} | {r.Span} | {Mb(r.OffsetInSpan)} of {Mb(r.SpanOut)} | {Kb(r.SpanCompressed)} | {(r.Needed >= 0 ? Kb(r.Needed) : "—")} | " +
                $"{Kb(r.ClipFetched)} ({r.ClipFetches} fetch{(r.ClipFetches == 1 ? "" : "es")}) | {Kb(r.WireBody)} + {r.WireHeads} B ({r.Requests}) | {(double)r.ClipFetched / r.SpanCompressed:0.00} | " +
                $"{r.ColdMs:0.0} ms | {r.NewClientMs:0.0} ms ({r.NewClientRequests} req) | {(r.Verified ? "yes" : "**NO**")} |"));
        }
        sb.AppendLine();
        sb.AppendLine("## Summary");
        sb.AppendLine();
        static string Row(string what, IEnumerable<double> values, Func<double, string> fmt)
        {
            var v = values.Order().ToList();
            return $"| {what} | {fmt(v[0])} | {fmt(Report.ReportCommand.Median(v))} | {fmt(v[^1])} |";
        }
        sb.AppendLine("| per cold 4 KiB read | min | median | max |");
        sb.AppendLine("|---|---|---|---|");
        sb.AppendLine(Row("registry sent (wire: bodies + heads)", results.Select(r => (double)(r.WireBody + r.WireHeads)), Kb));
        sb.AppendLine(Row("clip fetched (compressed bytes, ReadStatistics)", results.Select(r => (double)r.ClipFetched), Kb));
        sb.AppendLine(Row("compressed size of the file's span", results.Select(r => (double)r.SpanCompressed), Kb));
        sb.AppendLine(Row("fetched / span compressed size", results.Select(r => (double)r.ClipFetched / r.SpanCompressed), v => v.ToString("0.00", Inv)));
        sb.AppendLine(Row("protocol overhead (response heads + request bytes)", results.Select(r => (double)(r.WireHeads + r.WireRequestBytes)), v => v.ToString("0", Inv) + " B"));
        sb.AppendLine(Row("requests", results.Select(r => (double)r.Requests), v => v.ToString("0", Inv)));
        sb.AppendLine(Row("time to first byte (cold read, open connection)", results.Select(r => r.ColdMs), v => v.ToString("0.0", Inv) + " ms"));
        sb.AppendLine(Row("time to first byte (cold read, new client)", results.Select(r => r.NewClientMs), v => v.ToString("0.0", Inv) + " ms"));
        sb.AppendLine();
        hits.Sort();
        sb.AppendLine(string.Create(Inv,
            $"Cache hit (the same 4 KiB again from the span cache, {hits.Count:N0} reads over {results.Count} files after 200 warm-up reads each): p50 {Percentile(hits, 0.5) * 1000:0.0} µs, p99 {Percentile(hits, 0.99) * 1000:0.0} µs, max {hits[^1] * 1000:0.0} µs."));
        sb.AppendLine();
        long slack = 2L * index.ChunkSize;
        int within = results.Count(r => r.ClipFetched <= r.SpanCompressed + slack);
        sb.AppendLine($"Goal (issue 3): a cold read of one small file costs at most one span plus protocol overhead. " +
            $"{within} of {results.Count} reads fetched no more than their span's compressed size (+ up to 2 × {index.ChunkSize / 1024} KiB of verification-chunk rounding); " +
            $"every read's content {(results.All(r => r.Verified) ? "matched" : "did **not** always match")} the generated bytes.");
        sb.AppendLine();
        sb.AppendLine("Requests of each cold read (open connection):");
        sb.AppendLine();
        foreach (var r in results) sb.AppendLine($"- {r.Number}: {r.RequestLines}");
        sb.AppendLine();
        sb.AppendLine("## Machine");
        sb.AppendLine();
        sb.AppendLine("| | |");
        sb.AppendLine("|---|---|");
        foreach (var (k, v) in Report.MachineInfo.Collect().Where(x => x.Key is "CPU" or "Memory" or "Kernel" or "OS" or ".NET runtime" or "registry"))
            sb.AppendLine($"| {k} | {v} |");
        return sb.ToString();
    }
}
