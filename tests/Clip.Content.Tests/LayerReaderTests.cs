using Clip.Testing;

namespace Clip.Content.Tests;

public class LayerReaderTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    private ContentOptions Options(long cacheMax = 1L << 30, long smallLayer = 0) =>
        new() { CacheDirectory = _dir.Combine("cache"), CacheMaxBytes = cacheMax, SmallLayerThreshold = smallLayer, ReadAhead = 256 * 1024 };

    private static (LayerReader Reader, FakeRemote Remote, ReadStatistics Stats) Open(TestLayer layer, ContentOptions options, SpanCache? cache = null)
    {
        var remote = new FakeRemote(layer.Blob);
        var stats = new ReadStatistics();
        cache ??= new SpanCache(options.CacheDirectory, options.CacheMaxBytes);
        var reader = new LayerReader(layer.Index, new VerifiedRangeSource(remote, layer.Index, null, stats), cache, options, null, stats);
        return (reader, remote, stats);
    }

    private static async Task<byte[]> ReadAll(LayerReader reader, Clip.Index.Entry e, int chunk = 1 << 20)
    {
        var result = new MemoryStream();
        var buf = new byte[chunk];
        for (long off = 0; ; )
        {
            int n = await reader.ReadAsync(e, off, buf, default);
            if (n == 0) break;
            result.Write(buf, 0, n);
            off += n;
        }
        return result.ToArray();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Every_file_reads_back_exactly(bool gzip)
    {
        var layer = await TestLayer.BuildAsync(seed: 2, gzip: gzip);
        var (reader, _, _) = Open(layer, Options());
        foreach (var (path, data) in layer.Files)
            Assert.Equal(data, await ReadAll(reader, layer.Entry(path), chunk: 7919));
    }

    [Fact]
    public async Task Random_offsets_and_lengths_across_spans_and_at_the_end()
    {
        var layer = await TestLayer.BuildAsync(seed: 3, spanSize: 128 * 1024);
        var (reader, _, _) = Open(layer, Options());
        var big = layer.Files["usr/bin/big"];
        var e = layer.Entry("usr/bin/big");
        var rng = new Random(3);
        for (int i = 0; i < 200; i++)
        {
            long off = rng.NextInt64(big.Length + 10);
            var buf = new byte[rng.Next(1, 600_000)];
            int n = await reader.ReadAsync(e, off, buf, default);
            Assert.Equal((int)Math.Max(0, Math.Min(buf.Length, big.Length - off)), n);
            Assert.True(big.AsSpan((int)Math.Min(off, big.Length), n).SequenceEqual(buf.AsSpan(0, n)), $"at {off}+{buf.Length}");
        }
    }

    [Fact]
    public async Task A_small_file_costs_at_most_its_span_and_one_request_then_nothing()
    {
        var layer = await TestLayer.BuildAsync(seed: 4, spanSize: 512 * 1024);
        var (reader, remote, stats) = Open(layer, Options());
        var path = layer.Files.Keys.Where(k => k.EndsWith(".py") && layer.Files[k].Length is > 100 and < 4096).Skip(50).First();
        var e = layer.Entry(path);
        var buf = new byte[4096];
        int n = await reader.ReadAsync(e, 0, buf, default);
        Assert.Equal(layer.Files[path], buf[..n]);
        Assert.Equal(1, remote.Requests);
        int s = Clip.Gzip.GzipRandomReader.FindSpan(layer.Index.Checkpoints, e.DataOffset).Value;
        long spanBytes = (s + 1 < layer.Index.Checkpoints.Count ? layer.Index.Checkpoints[s + 1].In.Value : layer.Blob.Length) - layer.Index.Checkpoints[s].FetchStart.Value;
        Assert.True(remote.Bytes <= spanBytes + 2 * layer.Index.ChunkSize, $"fetched {remote.Bytes}, span is {spanBytes}");
        // again: from the cache
        Assert.Equal(n, await reader.ReadAsync(e, 0, buf, default));
        Assert.Equal(1, remote.Requests);
        Assert.Equal(1, stats.CacheHits);
    }

    [Fact]
    public async Task Neighbouring_small_files_read_in_order_never_fetch_a_byte_twice()
    {
        var layer = await TestLayer.BuildAsync(seed: 14, spanSize: 4 << 20);
        var (reader, remote, _) = Open(layer, Options());
        var small = layer.Files.Keys.Select(p => layer.Entry(p)).Where(e => e.Size is > 0 and < 20_000)
            .OrderBy(e => e.DataOffset.Value).Take(40).ToList();
        foreach (var e in small) await ReadAll(reader, e);
        var ranges = remote.Log.OrderBy(r => r.Offset).ToList();
        for (int i = 1; i < ranges.Count; i++)
            Assert.True(ranges[i].Offset >= ranges[i - 1].Offset + ranges[i - 1].Length,
                $"fetch {ranges[i].Offset}+{ranges[i].Length} overlaps {ranges[i - 1].Offset}+{ranges[i - 1].Length}");
    }

    [Fact]
    public async Task The_cache_survives_a_restart()
    {
        var layer = await TestLayer.BuildAsync(seed: 5);
        var options = Options();
        var (reader, _, _) = Open(layer, options);
        foreach (var path in layer.Files.Keys.Take(50)) await ReadAll(reader, layer.Entry(path));
        reader.Dispose();
        var (again, remote, stats) = Open(layer, options); // a new process: new cache object over the same directory
        foreach (var path in layer.Files.Keys.Take(50)) Assert.Equal(layer.Files[path], await ReadAll(again, layer.Entry(path)));
        Assert.Equal(0, remote.Requests);
        Assert.True(stats.CacheHits > 0);
    }

    [Fact]
    public async Task A_torn_cache_file_from_a_crash_is_detected_and_refetched()
    {
        var layer = await TestLayer.BuildAsync(seed: 6);
        var options = Options();
        var (reader, _, _) = Open(layer, options);
        var path = layer.Files.Keys.First(k => layer.Files[k].Length > 1000);
        await ReadAll(reader, layer.Entry(path));
        reader.Dispose();
        foreach (var f in Directory.EnumerateFiles(options.CacheDirectory, "*", SearchOption.AllDirectories))
        {
            var bytes = File.ReadAllBytes(f);
            bytes[bytes.Length / 3] ^= 0xff;
            File.WriteAllBytes(f, bytes);
        }
        var (again, remote, _) = Open(layer, options);
        Assert.Equal(layer.Files[path], await ReadAll(again, layer.Entry(path)));
        Assert.True(remote.Requests > 0);
    }

    [Fact]
    public async Task Concurrent_readers_of_one_span_cause_one_fetch()
    {
        var layer = await TestLayer.BuildAsync(seed: 7, spanSize: 4 << 20);
        var (reader, remote, _) = Open(layer, Options());
        remote.Delay = TimeSpan.FromMilliseconds(200);
        var path = layer.Files.Keys.First(k => layer.Files[k].Length > 10_000);
        var e = layer.Entry(path);
        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            var buf = new byte[layer.Files[path].Length];
            int n = await reader.ReadAsync(e, 0, buf, default);
            return buf[..n];
        }));
        Assert.All(results, r => Assert.Equal(layer.Files[path], r));
        Assert.Equal(1, remote.Requests);
    }

    [Fact]
    public async Task A_corrupted_response_is_fetched_again_and_the_right_bytes_are_returned()
    {
        var layer = await TestLayer.BuildAsync(seed: 8);
        var (reader, remote, stats) = Open(layer, Options());
        remote.CorruptNext = 1;
        var path = layer.Files.Keys.First(k => layer.Files[k].Length > 5000);
        Assert.Equal(layer.Files[path], await ReadAll(reader, layer.Entry(path)));
        Assert.Equal(1, stats.VerificationFailures);
        Assert.Equal(2, remote.Requests);
    }

    [Fact]
    public async Task Persistently_wrong_bytes_are_an_error_never_data()
    {
        var layer = await TestLayer.BuildAsync(seed: 9);
        var (reader, remote, _) = Open(layer, Options());
        remote.CorruptNext = 1000;
        var path = layer.Files.Keys.First(k => layer.Files[k].Length > 5000);
        var buf = new byte[100_000];
        var e = await Assert.ThrowsAsync<ContentVerificationException>(() => reader.ReadAsync(layer.Entry(path), 0, buf, default).AsTask());
        Assert.Contains("failed sha256 verification twice", e.Message);
        Assert.Equal(0, new SpanCache(_dir.Combine("cache"), 1 << 30).Size); // nothing unverified was cached
    }

    [Fact]
    public async Task A_bounded_cache_stays_bounded_and_still_serves_exact_bytes()
    {
        var layer = await TestLayer.BuildAsync(seed: 10, spanSize: 128 * 1024);
        var options = Options(cacheMax: 600 * 1024);
        var cache = new SpanCache(options.CacheDirectory, options.CacheMaxBytes);
        var (reader, _, _) = Open(layer, options, cache);
        foreach (var (path, data) in layer.Files) Assert.Equal(data, await ReadAll(reader, layer.Entry(path)));
        Assert.True(cache.Size <= 600 * 1024 + 256 * 1024, $"cache holds {cache.Size}");
        long onDisk = Directory.EnumerateFiles(options.CacheDirectory, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(onDisk <= 1024 * 1024);
    }

    [Fact]
    public async Task Cache_files_are_private_and_named_only_by_digest_and_span()
    {
        var layer = await TestLayer.BuildAsync(seed: 11);
        var options = Options();
        var (reader, _, _) = Open(layer, options);
        await ReadAll(reader, layer.Entry(layer.Files.Keys.First()));
        foreach (var f in Directory.EnumerateFiles(options.CacheDirectory, "*", SearchOption.AllDirectories))
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f));
            var rel = Path.GetRelativePath(options.CacheDirectory, f).Split('/');
            Assert.Equal(["sha256", layer.Index.Digest.Hex], rel[..2]);
            Assert.True(int.TryParse(rel[2], out _));
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(options.CacheDirectory));
    }

    [Fact]
    public async Task Small_layers_are_fetched_whole_once_and_then_read_locally()
    {
        var layer = await TestLayer.BuildAsync(seed: 12, smallFiles: 50, bigFileBytes: 100_000);
        var options = Options(smallLayer: 10 << 20);
        var remote = new FakeRemote(layer.Blob);
        int whole = 0;
        var source = new LayerBlobSource(layer.Index, new VerifiedRangeSource(remote, layer.Index), async (path, ct) =>
        {
            Interlocked.Increment(ref whole);
            await File.WriteAllBytesAsync(path, layer.Blob, ct);
        }, options);
        var reader = new LayerReader(layer.Index, source, new SpanCache(options.CacheDirectory, options.CacheMaxBytes), options);
        await Task.WhenAll(layer.Files.Select(async kv => Assert.Equal(kv.Value, await ReadAll(reader, layer.Entry(kv.Key)))));
        Assert.Equal(1, whole);
        Assert.Equal(0, remote.Requests);
        Assert.True(source.IsLocal);
    }

    [Fact]
    public async Task With_background_fetch_a_layer_goes_local_once_its_reads_are_quiet()
    {
        var layer = await TestLayer.BuildAsync(seed: 15, smallFiles: 100);
        var options = Options() with { BackgroundFetch = true, BackgroundQuietPeriod = TimeSpan.FromMilliseconds(300) };
        var remote = new FakeRemote(layer.Blob);
        int whole = 0;
        using var source = new LayerBlobSource(layer.Index, new VerifiedRangeSource(remote, layer.Index), async (path, ct) =>
        {
            Interlocked.Increment(ref whole);
            await File.WriteAllBytesAsync(path, layer.Blob, ct);
        }, options);
        using var reader = new LayerReader(layer.Index, source, new SpanCache(options.CacheDirectory, options.CacheMaxBytes), options);
        var first = layer.Files.Keys.First(k => layer.Files[k].Length > 100);
        Assert.Equal(layer.Files[first], await ReadAll(reader, layer.Entry(first)));
        Assert.False(source.IsLocal); // lazily read first
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!source.IsLocal && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True(source.IsLocal);
        Assert.Equal(1, whole);
        int before = remote.Requests;
        foreach (var (path, data) in layer.Files.Take(30)) Assert.Equal(data, await ReadAll(reader, layer.Entry(path)));
        Assert.Equal(before, remote.Requests); // everything now comes from the local blob
    }

    [Fact]
    public async Task A_sequential_reader_gets_whole_spans_and_the_next_one_prefetched()
    {
        var layer = await TestLayer.BuildAsync(seed: 13, bigFileBytes: 6_000_000, spanSize: 1 << 20);
        var (reader, remote, _) = Open(layer, Options());
        var e = layer.Entry("usr/bin/big");
        var data = await ReadAll(reader, e, chunk: 128 * 1024);
        Assert.Equal(layer.Files["usr/bin/big"], data);
        int spans = layer.Index.Checkpoints.Count(c => c.Out.Value >= e.DataOffset.Value && c.Out.Value < e.DataOffset.Value + e.Size) + 1;
        Assert.True(remote.Requests <= spans + 2, $"{remote.Requests} requests for {spans} spans");
    }
}
