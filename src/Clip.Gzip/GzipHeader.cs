namespace Clip.Gzip;

/// <summary>The gzip member header (RFC 1952 section 2.3).</summary>
public static class GzipHeader
{
    private const byte Id1 = 0x1f, Id2 = 0x8b, MethodDeflate = 8;
    private const byte FHcrc = 2, FExtra = 4, FName = 8, FComment = 16, FReserved = 0xe0;
    private const int FixedLength = 10;

    /// <summary>Headers longer than this (huge FEXTRA, unterminated names) are refused rather than buffered.</summary>
    public const int MaxLength = 1 << 20;

    /// <summary>The trailer: CRC-32 and ISIZE, little-endian.</summary>
    public const int TrailerLength = 8;

    /// <summary>Whether <paramref name="data"/> starts like a gzip member.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> data) => data.Length >= 2 && data[0] == Id1 && data[1] == Id2;

    /// <summary>
    /// Parses a member header at the start of <paramref name="data"/>. Returns false when more bytes
    /// are needed; otherwise the header's length. Throws <see cref="GzipFormatException"/> when it is not gzip.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> data, long at, out int length)
    {
        length = 0;
        if (data.Length >= 1 && data[0] != Id1 || data.Length >= 2 && data[1] != Id2)
            throw new GzipFormatException($"gzip: bad magic at compressed offset {at}: not a gzip stream");
        if (data.Length >= 3 && data[2] != MethodDeflate)
            throw new GzipFormatException($"gzip: unknown compression method {data[2]} at compressed offset {at}");
        if (data.Length < FixedLength) return false;
        byte flags = data[3];
        if ((flags & FReserved) != 0)
            throw new GzipFormatException($"gzip: reserved header flags 0x{flags:x2} set at compressed offset {at}");
        int pos = FixedLength;
        if ((flags & FExtra) != 0)
        {
            if (data.Length < pos + 2) return false;
            int xlen = data[pos] | data[pos + 1] << 8;
            pos += 2 + xlen;
            if (data.Length < pos) return false;
        }
        if ((flags & FName) != 0 && !SkipZeroTerminated(data, ref pos)) return false;
        if ((flags & FComment) != 0 && !SkipZeroTerminated(data, ref pos)) return false;
        if ((flags & FHcrc) != 0)
        {
            pos += 2;
            if (data.Length < pos) return false;
        }
        length = pos;
        return true;
    }

    private static bool SkipZeroTerminated(ReadOnlySpan<byte> data, ref int pos)
    {
        int end = data[pos..].IndexOf((byte)0);
        if (end < 0)
        {
            if (data.Length - pos > MaxLength) throw new GzipFormatException("gzip: unterminated file name or comment in header");
            return false;
        }
        pos += end + 1;
        return true;
    }
}
