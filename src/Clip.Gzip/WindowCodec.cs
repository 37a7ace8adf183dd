using System.IO.Compression;
using Clip.Interop;

namespace Clip.Gzip;

/// <summary>Stores checkpoint windows (the 32 KiB that precede a resume point) as raw deflate.</summary>
public static class WindowCodec
{
    /// <summary>The deflate window: the largest distance a back-reference may reach (RFC 1951).</summary>
    public const int WindowSize = 32 * 1024;

    /// <summary>At most this many stored-block payloads make up a window that lies in the stream.</summary>
    public const int MaxInStreamSegments = 8;

    /// <summary>The segments (oldest first) of an in-stream window: distance back from the checkpoint to each segment's start, and its length.</summary>
    public static IEnumerable<(long Back, int Length)> Segments(ReadOnlyMemory<byte> table)
    {
        for (int i = 0; i + 8 <= table.Length; i += 8)
            yield return (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(table.Span[i..]),
                (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(table.Span[(i + 4)..]));
    }

    /// <summary>Raw-deflate compresses a window.</summary>
    public static byte[] Compress(ReadOnlySpan<byte> window)
    {
        if (window.IsEmpty) return [];
        var ms = new MemoryStream(window.Length / 2 + 64);
        using (var d = new DeflateStream(ms, CompressionLevel.Optimal, leaveOpen: true)) d.Write(window);
        return ms.ToArray();
    }

    /// <summary>Inflates a stored window into <paramref name="destination"/> (sized to the window's length) with a reset inflater.</summary>
    internal static int Decompress(ZInflater inflater, ReadOnlySpan<byte> compressed, Span<byte> destination)
    {
        var rc = inflater.Inflate(compressed, destination, ZFlush.Finish, out _, out int produced);
        if (rc != ZResult.StreamEnd || produced != destination.Length)
            throw new InvalidDataException($"index: corrupt checkpoint window (inflate {rc}, {produced} of {destination.Length} bytes)");
        return produced;
    }
}
