using System.Security.Cryptography;
using Clip.Gzip;
using Clip.Index.Build;
using Clip.Testing;

namespace Clip.Index.Tests;

/// <summary>A range source that records every read and can forbid reads outside a window.</summary>
internal sealed class CountingSource(byte[] data) : IRangeSource
{
    public long Length => data.Length;
    public List<(long Offset, int Length)> Reads { get; } = [];
    public (long Start, long End)? Fence { get; set; }

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (Fence is { } f && (offset < f.Start || offset + destination.Length > f.End))
            throw new InvalidOperationException($"read {offset}+{destination.Length} outside [{f.Start},{f.End})");
        Reads.Add((offset, destination.Length));
        data.AsSpan((int)offset, destination.Length).CopyTo(destination.Span);
        return ValueTask.CompletedTask;
    }
}

public class RandomAccessTests
{
    private static (byte[] Tar, Dictionary<string, byte[]> Files) ManyFiles(int seed, int count, int maxSize)
    {
        var rng = new Random(seed);
        var b = new LayerBuilder();
        var files = new Dictionary<string, byte[]>();
        var words = "import os sys def class return self value none true false print lambda yield".Split(' ');
        for (int i = 0; i < count; i++)
        {
            byte[] data;
            if (i % 5 == 0)
            {
                data = new byte[rng.Next(0, maxSize)];
                rng.NextBytes(data);
            }
            else
            {
                var sb = new System.Text.StringBuilder();
                int len = rng.Next(0, maxSize);
                while (sb.Length < len) sb.Append(words[rng.Next(words.Length)]).Append(' ');
                data = System.Text.Encoding.ASCII.GetBytes(sb.ToString(0, len));
            }
            string name = $"usr/lib/python3/pkg{i % 13}/mod{i}.py";
            files[name] = data;
            b.File(name, data);
        }
        return (b.BuildTar(), files);
    }

    [Fact]
    public async Task Every_file_reads_back_exactly_from_one_range_between_its_checkpoint_and_its_end()
    {
        var (tar, files) = ManyFiles(seed: 21, count: 600, maxSize: 40_000);
        var gz = LayerBuilder.Gzip(tar);
        var layer = await IndexHelpers.IndexAsync(gz, options: new LayerIndexOptions { SpanSize = 256 * 1024 });
        Assert.True(layer.Checkpoints.Count > 5);
        var source = new CountingSource(gz);
        foreach (var (path, data) in files)
        {
            var e = layer.Find(path)!.Value;
            if (e.Size == 0) continue;
            var span = GzipRandomReader.FindSpan(layer.Checkpoints, e.DataOffset);
            var cp = layer.Checkpoints[span.Value];
            source.Fence = (cp.FetchStart.Value, e.CompleteBy.Value);
            source.Reads.Clear();
            Assert.Equal(data, await IndexHelpers.ReadFileAsync(layer, e, source));
            Assert.Single(source.Reads);
        }
    }

    [Fact]
    public async Task Reading_one_small_file_touches_at_most_one_span_of_compressed_bytes()
    {
        var (tar, files) = ManyFiles(seed: 22, count: 400, maxSize: 8_000);
        var gz = LayerBuilder.Gzip(tar);
        var layer = await IndexHelpers.IndexAsync(gz, options: new LayerIndexOptions { SpanSize = 128 * 1024 });
        long maxSpan = 0;
        for (int i = 0; i < layer.Checkpoints.Count; i++)
        {
            long end = i + 1 < layer.Checkpoints.Count ? layer.Checkpoints[i + 1].In.Value : gz.Length;
            maxSpan = Math.Max(maxSpan, end - layer.Checkpoints[i].FetchStart.Value);
        }
        var source = new CountingSource(gz);
        foreach (var path in files.Keys.Take(100))
        {
            source.Reads.Clear();
            var e = layer.Find(path)!.Value;
            await IndexHelpers.ReadFileAsync(layer, e, source);
            if (e.Size == 0) continue;
            long spanOfFile;
            var s = GzipRandomReader.FindSpan(layer.Checkpoints, e.DataOffset).Value;
            spanOfFile = (s + 1 < layer.Checkpoints.Count ? layer.Checkpoints[s + 1].In.Value : gz.Length) - layer.Checkpoints[s].FetchStart.Value;
            long fetched = source.Reads.Sum(r => r.Length);
            // a file that does not cross its span's end needs at most that span
            if (e.DataOffset.Value + e.Size <= (s + 1 < layer.Checkpoints.Count ? layer.Checkpoints[s + 1].Out.Value : long.MaxValue))
                Assert.True(fetched <= spanOfFile, $"{path}: fetched {fetched} > span {spanOfFile}");
            Assert.True(fetched <= maxSpan + 8192);
        }
    }

    [Fact]
    public async Task Large_files_get_a_checkpoint_just_before_them()
    {
        var rng = new Random(3);
        var big = new byte[3 << 20];
        rng.NextBytes(big);
        var small = new byte[900_000];
        for (int i = 0; i < small.Length; i++) small[i] = (byte)"abcdefgh"[rng.Next(8)];
        var tar = new LayerBuilder().File("small", small).File("big", big).BuildTar();
        var gz = LayerBuilder.Gzip(tar);
        var layer = await IndexHelpers.IndexAsync(gz, options: new LayerIndexOptions { SpanSize = 4 << 20 });
        var e = layer.Find("big")!.Value;
        var cp = layer.Checkpoints[GzipRandomReader.FindSpan(layer.Checkpoints, e.DataOffset).Value];
        Assert.InRange(e.DataOffset.Value - cp.Out.Value, 0, 128 * 1024); // within a deflate block or so of the file start
        var source = new CountingSource(gz);
        var head = new byte[4096];
        using var reader = new GzipRandomReader(layer.Checkpoints, layer.UncompressedSize, source);
        await reader.ReadAsync(e.DataOffset, head, null, default);
        Assert.Equal(big.AsSpan(0, 4096).ToArray(), head);
    }

    [Fact]
    public async Task Chunk_digests_are_the_sha256_of_each_compressed_chunk()
    {
        var (tar, _) = ManyFiles(seed: 4, count: 100, maxSize: 20_000);
        var gz = LayerBuilder.Gzip(tar);
        var layer = await IndexHelpers.IndexAsync(gz, options: new LayerIndexOptions { SpanSize = 64 * 1024, ChunkSize = 8192 });
        Assert.Equal((gz.Length + 8191) / 8192, layer.ChunkCount);
        for (int i = 0; i < layer.ChunkCount; i++)
        {
            int start = i * 8192;
            var expected = SHA256.HashData(gz.AsSpan(start, Math.Min(8192, gz.Length - start)));
            Assert.Equal(expected, layer.ChunkDigest(i).ToArray());
        }
    }

    [Fact]
    public async Task Multi_member_gzip_layers_serve_every_file()
    {
        var (tar, files) = ManyFiles(seed: 5, count: 200, maxSize: 30_000);
        var gz = LayerBuilder.GzipMultiMember(tar, tar.Length / 5, tar.Length / 2, tar.Length / 2 + 1, tar.Length * 4 / 5);
        var layer = await IndexHelpers.IndexAsync(gz);
        var source = new MemoryRangeSource(gz);
        foreach (var (path, data) in files)
            Assert.Equal(data, await IndexHelpers.ReadFileAsync(layer, layer.Find(path)!.Value, source));
    }

    [Fact]
    public async Task A_blob_that_does_not_match_its_digest_is_refused()
    {
        var gz = LayerBuilder.Gzip(new LayerBuilder().File("a", "b").BuildTar());
        var wrong = Clip.Oci.Digest.Sha256("other"u8);
        var e = await Assert.ThrowsAsync<Clip.Oci.DigestMismatchException>(() =>
            LayerIndexer.IndexAsync(new MemoryStream(gz), wrong, Clip.Oci.MediaTypes.OciLayerGzip, gz.Length, new LayerIndexOptions()));
        Assert.Contains(wrong.ToString(), e.Message);
    }

    [Fact]
    public async Task Zstd_layers_are_reported_as_unsupported_for_lazy_reads()
    {
        byte[] zstd = [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0];
        await Assert.ThrowsAsync<UnsupportedLayerException>(() =>
            LayerIndexer.IndexAsync(new MemoryStream(zstd), Clip.Oci.Digest.Sha256(zstd), Clip.Oci.MediaTypes.OciLayerZstd, zstd.Length, new LayerIndexOptions()));
    }
}
