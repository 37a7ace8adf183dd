using System.IO.Compression;

namespace Clip.Gzip.Tests;

public class InStreamWindowTests
{
    private static (IReadOnlyList<Checkpoint> Checkpoints, byte[] Gz) Index(byte[] data, long span, long? compressedSpan = null, CompressionLevel level = CompressionLevel.Optimal)
    {
        var gz = GzipTestData.Gzip(data, level);
        using var indexer = new GzipIndexer(span, new RecordingSink([]), compressedSpanSize: compressedSpan);
        indexer.Push(gz);
        indexer.Finish();
        return (indexer.Checkpoints, gz);
    }

    [Fact]
    public async Task Incompressible_stretches_get_checkpoints_whose_window_is_the_stream_itself()
    {
        var data = new byte[3_000_000];
        new Random(5).NextBytes(data);
        var (cps, gz) = Index(data, span: 256 * 1024);
        var later = cps.Where(c => c.Out.Value >= 32768).ToList();
        Assert.NotEmpty(later);
        Assert.All(later, c =>
        {
            Assert.True(c.WindowInStream);
            Assert.True(c.CompressedWindow.Length <= 64);
            // the window really is the compressed bytes before the checkpoint
            Assert.Equal(c.In.Value - c.FetchStart.Value, WindowCodec.Segments(c.CompressedWindow).First().Back);
            Assert.Equal(32768, WindowCodec.Segments(c.CompressedWindow).Sum(x => x.Length));
        });
        using var reader = new GzipRandomReader(cps, data.Length, new MemoryRangeSource(gz));
        var rng = new Random(6);
        for (int i = 0; i < 100; i++)
        {
            int at = rng.Next(data.Length), len = rng.Next(1, 300_000);
            var buf = new byte[len];
            int n = await reader.ReadAsync(new UncompressedOffset(at), buf, null, default);
            Assert.True(data.AsSpan(at, n).SequenceEqual(buf.AsSpan(0, n)));
        }
    }

    [Fact]
    public async Task Compressible_data_after_an_in_stream_window_may_refer_back_into_it()
    {
        // Random bytes (stored blocks), then text that repeats pieces of those random bytes: the blocks
        // after the checkpoint carry back-references into the window that the stream itself provides.
        var rng = new Random(7);
        var noise = new byte[1_500_000];
        rng.NextBytes(noise);
        var ms = new MemoryStream();
        ms.Write(noise);
        for (int i = 0; i < 20_000; i++) ms.Write(noise.AsSpan(noise.Length - 30_000 + rng.Next(29_000), 64));
        var data = ms.ToArray();
        var (cps, gz) = Index(data, span: 128 * 1024);
        Assert.Contains(cps, c => c.WindowInStream);
        using var reader = new GzipRandomReader(cps, data.Length, new MemoryRangeSource(gz));
        foreach (var cp in cps.Where(c => c.WindowInStream))
        {
            var buf = new byte[200_000];
            int n = await reader.ReadAsync(cp.Out, buf, null, default);
            Assert.True(data.AsSpan((int)cp.Out.Value, n).SequenceEqual(buf.AsSpan(0, n)));
        }
        var tail = new byte[data.Length - 1_400_000];
        Assert.Equal(tail.Length, await reader.ReadAsync(new UncompressedOffset(1_400_000), tail, null, default));
        Assert.True(data.AsSpan(1_400_000).SequenceEqual(tail));
    }

    [Fact]
    public void Compressible_data_gets_checkpoints_by_compressed_distance_too()
    {
        var data = GzipTestData.Mixed(4_000_000, seed: 8);
        var (wide, _) = Index(data, span: 4 << 20);
        var (dense, gz) = Index(data, span: 4 << 20, compressedSpan: 128 * 1024);
        Assert.True(dense.Count > wide.Count);
        for (int i = 1; i < dense.Count; i++)
            Assert.True(dense[i].In.Value - dense[i - 1].In.Value < 128 * 1024 + 70_000, "a gap exceeds the compressed span by more than a block");
        _ = gz;
    }
}
