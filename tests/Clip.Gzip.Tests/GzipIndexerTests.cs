using System.IO.Compression;

namespace Clip.Gzip.Tests;

public class GzipIndexerTests
{
    private static (GzipIndexer indexer, RecordingSink sink) Index(byte[] gz, long span, long[]? stops = null, int pushSize = 7919, long[]? forced = null)
    {
        var sink = new RecordingSink(stops ?? []) { ForcedCheckpointsAt = forced ?? [] };
        var indexer = new GzipIndexer(span, sink);
        sink.Indexer = indexer;
        for (int i = 0; i < gz.Length; i += pushSize) indexer.Push(gz.AsSpan(i, Math.Min(pushSize, gz.Length - i)));
        indexer.Finish();
        return (indexer, sink);
    }

    [Fact]
    public void One_pass_yields_the_original_stream_and_checkpoints_about_every_span()
    {
        var data = GzipTestData.Mixed(3_000_000);
        var gz = GzipTestData.Gzip(data);
        var (indexer, sink) = Index(gz, span: 256 * 1024);
        Assert.Equal(data, sink.Output.ToArray());
        Assert.Equal(data.Length, indexer.UncompressedSize);
        Assert.Equal(gz.Length, indexer.CompressedSize);
        var cps = indexer.Checkpoints;
        Assert.Equal(0, cps[0].Out.Value);
        Assert.InRange(cps.Count, data.Length / (256 * 1024) / 2, data.Length / (256 * 1024) + 2);
        for (int i = 1; i < cps.Count; i++)
        {
            Assert.True(cps[i].Out.Value - cps[i - 1].Out.Value >= 256 * 1024);
            Assert.True(cps[i].In > cps[i - 1].In);
            Assert.Equal(Math.Min(cps[i].Out.Value, 32768), cps[i].WindowLength);
        }
    }

    [Fact]
    public void Inflate_stops_exactly_at_the_offsets_the_sink_asks_for()
    {
        var data = GzipTestData.Mixed(1_000_000, seed: 5);
        var gz = GzipTestData.Gzip(data);
        long[] stops = [512, 1024, 77_777, 77_778, 500_000, 999_999];
        var (_, sink) = Index(gz, span: 128 * 1024, stops);
        Assert.Equal(stops.Length, sink.CompleteBy.Count);
        var prev = new CompressedOffset(0);
        foreach (var s in stops)
        {
            Assert.True(sink.CompleteBy[s] >= prev);
            prev = sink.CompleteBy[s];
        }
    }

    [Fact]
    public void A_forced_checkpoint_lands_at_or_before_the_requested_offset()
    {
        var data = GzipTestData.Mixed(2_000_000, seed: 9);
        var gz = GzipTestData.Gzip(data);
        long[] stops = [700_001, 1_500_000];
        var (indexer, _) = Index(gz, span: 4 << 20, stops, forced: stops);
        // span 4 MiB > data: only the start checkpoint plus the two forced ones
        Assert.Equal(3, indexer.Checkpoints.Count);
        Assert.True(indexer.Checkpoints[1].Out.Value <= 700_001 && indexer.Checkpoints[1].Out.Value > 500_000);
        Assert.True(indexer.Checkpoints[2].Out.Value <= 1_500_000 && indexer.Checkpoints[2].Out.Value > 1_300_000);
    }

    [Fact]
    public void Multi_member_streams_are_one_uncompressed_stream()
    {
        var data = GzipTestData.Mixed(600_000, seed: 3);
        var ms = new MemoryStream();
        foreach (var (start, len) in new[] { (0, 100_000), (100_000, 1), (100_001, 299_999), (400_000, 200_000) })
            ms.Write(GzipTestData.Gzip(data[start..(start + len)]));
        var (indexer, sink) = Index(ms.ToArray(), span: 64 * 1024);
        Assert.Equal(data, sink.Output.ToArray());
        Assert.Equal(4, indexer.Members);
    }

    [Fact]
    public void Header_fields_FEXTRA_FNAME_FCOMMENT_FHCRC_are_skipped()
    {
        var data = GzipTestData.Mixed(200_000, seed: 4);
        var (_, sink) = Index(GzipTestData.GzipWithAllHeaderFields(data), span: 64 * 1024, pushSize: 3);
        Assert.Equal(data, sink.Output.ToArray());
    }

    [Fact]
    public void Zero_padding_after_the_last_member_is_accepted()
    {
        var data = GzipTestData.Mixed(50_000);
        var gz = GzipTestData.Gzip(data).Concat(new byte[1024]).ToArray();
        var (_, sink) = Index(gz, span: 64 * 1024);
        Assert.Equal(data, sink.Output.ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(9)]
    [InlineData(100)]
    [InlineData(5000)]
    public void Truncated_streams_are_refused(int cut)
    {
        var gz = GzipTestData.Gzip(GzipTestData.Mixed(100_000));
        var e = Assert.Throws<GzipFormatException>(() => Index(gz[..^cut], span: 64 * 1024));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Corrupt_deflate_data_is_refused()
    {
        var data = GzipTestData.Mixed(300_000, seed: 2);
        var gz = GzipTestData.Gzip(data);
        // Flip bits throughout the middle: either the deflate decoder or the CRC check must notice.
        for (int i = gz.Length / 3; i < gz.Length / 3 + 40; i++) gz[i] ^= 0x5a;
        Assert.Throws<GzipFormatException>(() => Index(gz, span: 64 * 1024));
    }

    [Fact]
    public void A_wrong_crc_is_refused()
    {
        var gz = GzipTestData.Gzip(GzipTestData.Mixed(10_000));
        gz[^8] ^= 1;
        var e = Assert.Throws<GzipFormatException>(() => Index(gz, span: 64 * 1024));
        Assert.Contains("CRC", e.Message);
    }

    [Fact]
    public void Garbage_after_the_stream_and_bad_magic_are_refused()
    {
        var gz = GzipTestData.Gzip(GzipTestData.Mixed(10_000));
        Assert.Contains("garbage", Assert.Throws<GzipFormatException>(() => Index([.. gz, 7, 7, 7], span: 64 * 1024)).Message);
        Assert.Contains("magic", Assert.Throws<GzipFormatException>(() => Index([0x50, 0x4b, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0], span: 64 * 1024)).Message);
    }

    [Fact]
    public void Stored_blocks_of_incompressible_data_work()
    {
        var data = new byte[2_000_000];
        new Random(7).NextBytes(data);
        var (indexer, sink) = Index(GzipTestData.Gzip(data, CompressionLevel.NoCompression), span: 256 * 1024);
        Assert.Equal(data, sink.Output.ToArray());
        Assert.True(indexer.Checkpoints.Count >= 5);
    }
}
