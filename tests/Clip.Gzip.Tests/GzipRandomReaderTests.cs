using System.IO.Compression;

namespace Clip.Gzip.Tests;

public class GzipRandomReaderTests
{
    private static IReadOnlyList<Checkpoint> Checkpoints(byte[] gz, long span)
    {
        using var indexer = new GzipIndexer(span, new RecordingSink([]));
        indexer.Push(gz);
        indexer.Finish();
        return indexer.Checkpoints;
    }

    [Theory]
    [InlineData(CompressionLevel.Optimal, 1)]
    [InlineData(CompressionLevel.SmallestSize, 2)]
    [InlineData(CompressionLevel.Fastest, 3)]
    [InlineData(CompressionLevel.NoCompression, 4)]
    public async Task Random_ranges_equal_the_original_bytes(CompressionLevel level, int seed)
    {
        var data = GzipTestData.Mixed(2_500_000, seed);
        var gz = GzipTestData.Gzip(data, level);
        var cps = Checkpoints(gz, 128 * 1024);
        using var reader = new GzipRandomReader(cps, data.Length, new MemoryRangeSource(gz));
        var rng = new Random(seed);
        for (int i = 0; i < 300; i++)
        {
            int at = rng.Next(data.Length);
            int len = rng.Next(4) switch { 0 => 1, 1 => rng.Next(1, 5000), 2 => rng.Next(1, 400_000), _ => data.Length - at };
            var buf = new byte[len];
            int n = await reader.ReadAsync(new UncompressedOffset(at), buf, null, default);
            Assert.Equal(Math.Min(len, data.Length - at), n);
            Assert.True(data.AsSpan(at, n).SequenceEqual(buf.AsSpan(0, n)), $"mismatch at {at}+{len}");
        }
    }

    [Fact]
    public async Task Reads_across_every_checkpoint_and_at_the_end()
    {
        var data = GzipTestData.Mixed(1_000_000, seed: 11);
        var gz = GzipTestData.Gzip(data);
        var cps = Checkpoints(gz, 64 * 1024);
        using var reader = new GzipRandomReader(cps, data.Length, new MemoryRangeSource(gz));
        foreach (var cp in cps.Skip(1))
        {
            long at = cp.Out.Value - 10;
            var buf = new byte[20];
            Assert.Equal(20, await reader.ReadAsync(new UncompressedOffset(at), buf, null, default));
            Assert.True(data.AsSpan((int)at, 20).SequenceEqual(buf));
        }
        var tail = new byte[100];
        Assert.Equal(7, await reader.ReadAsync(new UncompressedOffset(data.Length - 7), tail, null, default));
        Assert.True(data.AsSpan(data.Length - 7).SequenceEqual(tail.AsSpan(0, 7)));
        Assert.Equal(0, await reader.ReadAsync(new UncompressedOffset(data.Length), tail, null, default));
    }

    [Fact]
    public async Task A_read_fetches_only_from_its_checkpoint_to_where_its_bytes_are_complete()
    {
        var data = GzipTestData.Mixed(3_000_000, seed: 12);
        var gz = GzipTestData.Gzip(data);
        // Files the sink pretends exist: record where each one's bytes are complete.
        long[] ends = [10_000, 400_000, 1_234_567, 2_000_001, 2_999_999];
        var sink = new RecordingSink(ends);
        using var indexer = new GzipIndexer(512 * 1024, sink);
        indexer.Push(gz);
        indexer.Finish();
        var source = new FencedRangeSource(gz);
        using var reader = new GzipRandomReader(indexer.Checkpoints, data.Length, source);
        foreach (long end in ends)
        {
            long start = end - 3000;
            var cp = indexer.Checkpoints[reader.FindSpan(new UncompressedOffset(start)).Value];
            source.AllowedStart = cp.FetchStart.Value;
            source.AllowedEnd = sink.CompleteBy[end].Value;
            int before = source.Reads;
            var buf = new byte[3000];
            Assert.Equal(3000, await reader.ReadAsync(new UncompressedOffset(start), buf, sink.CompleteBy[end], default));
            Assert.True(data.AsSpan((int)start, 3000).SequenceEqual(buf));
            Assert.Equal(before + 1, source.Reads); // one request
        }
    }

    [Fact]
    public async Task Multi_member_streams_read_across_member_boundaries()
    {
        var data = GzipTestData.Mixed(900_000, seed: 13);
        var ms = new MemoryStream();
        for (int i = 0; i < data.Length; i += 150_000) ms.Write(GzipTestData.Gzip(data[i..Math.Min(data.Length, i + 150_000)]));
        var gz = ms.ToArray();
        var cps = Checkpoints(gz, 64 * 1024);
        using var reader = new GzipRandomReader(cps, data.Length, new MemoryRangeSource(gz));
        var buf = new byte[400_000];
        foreach (int at in new[] { 0, 149_990, 299_999, 450_123, 899_000 })
        {
            int n = await reader.ReadAsync(new UncompressedOffset(at), buf, null, default);
            Assert.True(data.AsSpan(at, n).SequenceEqual(buf.AsSpan(0, n)));
            Assert.Equal(Math.Min(buf.Length, data.Length - at), n);
        }
    }

    [Fact]
    public async Task A_short_completion_hint_still_yields_the_right_bytes()
    {
        var data = GzipTestData.Mixed(800_000, seed: 14);
        var gz = GzipTestData.Gzip(data);
        var cps = Checkpoints(gz, 64 * 1024);
        using var reader = new GzipRandomReader(cps, data.Length, new MemoryRangeSource(gz));
        var buf = new byte[300_000];
        int n = await reader.ReadAsync(new UncompressedOffset(100_000), buf, cps[1].In + 10, default);
        Assert.Equal(buf.Length, n);
        Assert.True(data.AsSpan(100_000, n).SequenceEqual(buf));
    }
}
