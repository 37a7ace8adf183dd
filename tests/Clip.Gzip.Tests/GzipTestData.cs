using System.IO.Compression;
using System.Text;

namespace Clip.Gzip.Tests;

/// <summary>Deterministic test payloads with a mix of compressible text and incompressible noise.</summary>
internal static class GzipTestData
{
    public static byte[] Mixed(int size, int seed = 1)
    {
        var rng = new Random(seed);
        var data = new byte[size];
        int pos = 0;
        var words = "the quick brown fox jumps over lazy dogs while python imports site packages lib usr bin etc".Split(' ');
        while (pos < size)
        {
            int run = rng.Next(100, 40_000);
            if (rng.Next(3) == 0)
            {
                var noise = data.AsSpan(pos, Math.Min(run, size - pos));
                rng.NextBytes(noise);
                pos += noise.Length;
            }
            else
            {
                var sb = new StringBuilder();
                while (sb.Length < run) sb.Append(words[rng.Next(words.Length)]).Append(rng.Next(10) == 0 ? '\n' : ' ');
                var bytes = Encoding.ASCII.GetBytes(sb.ToString());
                int n = Math.Min(bytes.Length, size - pos);
                bytes.AsSpan(0, n).CopyTo(data.AsSpan(pos));
                pos += n;
            }
        }
        return data;
    }

    public static byte[] Gzip(byte[] data, CompressionLevel level = CompressionLevel.Optimal)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, level, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    /// <summary>A gzip member with FEXTRA, FNAME, FCOMMENT and FHCRC set, built by hand around raw deflate.</summary>
    public static byte[] GzipWithAllHeaderFields(byte[] data)
    {
        var ms = new MemoryStream();
        ms.Write([0x1f, 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3]);
        ms.Write([5, 0, (byte)'A', (byte)'B', 3, 0, 9, 9, 9]); // XLEN=5 then subfield AB len 3... (bytes are opaque)
        ms.Write(Encoding.ASCII.GetBytes("file.tar\0"));
        ms.Write(Encoding.ASCII.GetBytes("a comment\0"));
        ms.Write([0x12, 0x34]); // header CRC16 (not checked by gzip -d either unless asked)
        using (var d = new DeflateStream(ms, CompressionLevel.Optimal, leaveOpen: true)) d.Write(data);
        var crc = Clip.Interop.ZInflater.Crc32(0, data);
        ms.Write(BitConverter.GetBytes(crc));
        ms.Write(BitConverter.GetBytes((uint)data.Length));
        return ms.ToArray();
    }
}

/// <summary>A sink that asks inflate to stop at given offsets and records the compressed offset reached there.</summary>
internal sealed class RecordingSink(long[] stops) : IInflateSink
{
    private int _next;
    public MemoryStream Output { get; } = new();
    public Dictionary<long, CompressedOffset> CompleteBy { get; } = [];
    public GzipIndexer? Indexer { get; set; }
    public long[] ForcedCheckpointsAt { get; init; } = [];

    public long NextStop => _next < stops.Length ? stops[_next] : long.MaxValue;

    public void Write(ReadOnlySpan<byte> data, CompressedOffset consumedThrough)
    {
        Output.Write(data);
        while (_next < stops.Length && Output.Length >= stops[_next])
        {
            Assert.Equal(stops[_next], Output.Length); // inflate stopped exactly where asked
            CompleteBy[stops[_next]] = consumedThrough;
            if (ForcedCheckpointsAt.Contains(stops[_next])) Indexer!.RequestCheckpointBefore(stops[_next]);
            _next++;
        }
    }
}

/// <summary>A range source that fails any read outside an allowed window, to prove what a read touches.</summary>
internal sealed class FencedRangeSource(byte[] data) : IRangeSource
{
    public long Length => data.Length;
    public long AllowedStart { get; set; }
    public long AllowedEnd { get; set; } = long.MaxValue;
    public long BytesRead { get; private set; }
    public int Reads { get; private set; }

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (offset < AllowedStart || offset + destination.Length > AllowedEnd)
            throw new InvalidOperationException($"read {offset}+{destination.Length} outside [{AllowedStart},{AllowedEnd})");
        BytesRead += destination.Length;
        Reads++;
        data.AsSpan((int)offset, destination.Length).CopyTo(destination.Span);
        return ValueTask.CompletedTask;
    }
}
