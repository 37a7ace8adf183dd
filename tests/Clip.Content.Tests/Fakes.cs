using Clip.Gzip;
using Clip.Index;
using Clip.Index.Build;
using Clip.Oci;
using Clip.Testing;

namespace Clip.Content.Tests;

/// <summary>An in-memory "registry blob" that counts requests and can corrupt or delay responses.</summary>
internal sealed class FakeRemote(byte[] blob) : IRangeSource
{
    private int _requests;
    private long _bytes;
    public long Length => blob.Length;
    public int Requests => _requests;
    public long Bytes => Interlocked.Read(ref _bytes);
    /// <summary>Corrupt the next N responses (flip a byte in the middle).</summary>
    public int CorruptNext;
    public TimeSpan Delay = TimeSpan.Zero;
    public List<(long Offset, int Length)> Log { get; } = [];

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _bytes, destination.Length);
        lock (Log) Log.Add((offset, destination.Length));
        if (Delay > TimeSpan.Zero) await Task.Delay(Delay, cancellationToken);
        blob.AsSpan((int)offset, destination.Length).CopyTo(destination.Span);
        if (Interlocked.Decrement(ref CorruptNext) >= 0) destination.Span[destination.Length / 2] ^= 0x40;
        else Interlocked.Exchange(ref CorruptNext, 0);
    }
}

internal sealed class TestLayer
{
    public required byte[] Blob;
    public required LayerIndex Index;
    public required Dictionary<string, byte[]> Files;

    public static async Task<TestLayer> BuildAsync(int seed = 1, int smallFiles = 400, int bigFileBytes = 3_000_000, long spanSize = 256 * 1024,
        bool gzip = true)
    {
        var rng = new Random(seed);
        var files = new Dictionary<string, byte[]>();
        var b = new LayerBuilder();
        var words = "import os sys def class return self value none true false print lambda yield".Split(' ');
        for (int i = 0; i < smallFiles; i++)
        {
            byte[] data;
            if (i % 4 == 0)
            {
                data = new byte[rng.Next(0, 20_000)];
                rng.NextBytes(data);
            }
            else
            {
                var sb = new System.Text.StringBuilder();
                int len = rng.Next(0, 30_000);
                while (sb.Length < len) sb.Append(words[rng.Next(words.Length)]).Append(rng.Next(9) == 0 ? '\n' : ' ');
                data = System.Text.Encoding.ASCII.GetBytes(sb.ToString(0, len));
            }
            files[$"lib/python/m{i % 17}/f{i}.py"] = data;
        }
        var big = new byte[bigFileBytes];
        for (int i = 0; i < big.Length; i += 4096) rng.NextBytes(big.AsSpan(i, Math.Min(2048, big.Length - i))); // half noise, half zeros
        files["usr/bin/big"] = big;
        foreach (var (p, d) in files) b.File(p, d);
        var tar = b.BuildTar();
        var blob = gzip ? LayerBuilder.Gzip(tar) : tar;
        var index = await LayerIndexer.IndexAsync(new MemoryStream(blob), Digest.Sha256(blob), gzip ? MediaTypes.OciLayerGzip : MediaTypes.OciLayer,
            blob.Length, new LayerIndexOptions { SpanSize = spanSize, ChunkSize = 16 * 1024 });
        return new TestLayer { Blob = blob, Index = index, Files = files };
    }

    public Entry Entry(string path) => Index.Find(path) ?? throw new KeyNotFoundException(path);
}
