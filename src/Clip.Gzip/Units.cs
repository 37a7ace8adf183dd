namespace Clip.Gzip;

/// <summary>A byte offset in a compressed blob (what a Range GET addresses).</summary>
public readonly record struct CompressedOffset(long Value) : IComparable<CompressedOffset>
{
    public int CompareTo(CompressedOffset other) => Value.CompareTo(other.Value);
    public static bool operator <(CompressedOffset a, CompressedOffset b) => a.Value < b.Value;
    public static bool operator >(CompressedOffset a, CompressedOffset b) => a.Value > b.Value;
    public static bool operator <=(CompressedOffset a, CompressedOffset b) => a.Value <= b.Value;
    public static bool operator >=(CompressedOffset a, CompressedOffset b) => a.Value >= b.Value;
    public static CompressedOffset operator +(CompressedOffset a, long n) => new(a.Value + n);
    public static long operator -(CompressedOffset a, CompressedOffset b) => a.Value - b.Value;
    public override string ToString() => $"c{Value}";
}

/// <summary>A byte offset in the uncompressed stream (the tar), where file contents are addressed.</summary>
public readonly record struct UncompressedOffset(long Value) : IComparable<UncompressedOffset>
{
    public int CompareTo(UncompressedOffset other) => Value.CompareTo(other.Value);
    public static bool operator <(UncompressedOffset a, UncompressedOffset b) => a.Value < b.Value;
    public static bool operator >(UncompressedOffset a, UncompressedOffset b) => a.Value > b.Value;
    public static bool operator <=(UncompressedOffset a, UncompressedOffset b) => a.Value <= b.Value;
    public static bool operator >=(UncompressedOffset a, UncompressedOffset b) => a.Value >= b.Value;
    public static UncompressedOffset operator +(UncompressedOffset a, long n) => new(a.Value + n);
    public static long operator -(UncompressedOffset a, UncompressedOffset b) => a.Value - b.Value;
    public override string ToString() => $"u{Value}";
}

/// <summary>The number of a span: the stretch of a layer from one checkpoint to the next.</summary>
public readonly record struct SpanIndex(int Value) : IComparable<SpanIndex>
{
    public int CompareTo(SpanIndex other) => Value.CompareTo(other.Value);
    public override string ToString() => $"span{Value}";
}

/// <summary>
/// A place where inflation can resume (zlib examples/zran.c): the deflate stream is at a block
/// boundary at compressed offset <see cref="In"/>, with <see cref="Bits"/> unused low bits of the
/// byte before it still to be consumed, having produced <see cref="Out"/> bytes. The 32 KiB of
/// output before <see cref="Out"/> (the deflate window) is stored raw-deflate compressed — or, when
/// <see cref="WindowInStream"/>, not stored at all: it is made of compressed bytes just before
/// <see cref="In"/> (the payloads of stored blocks, as deflate writes for incompressible data), and
/// <see cref="CompressedWindow"/> then holds their segment table (see <see cref="WindowCodec.Segments"/>).
/// The indexer checks those bytes equal the window before it relies on that.
/// </summary>
public readonly record struct Checkpoint(CompressedOffset In, int Bits, UncompressedOffset Out, ReadOnlyMemory<byte> CompressedWindow, int WindowLength,
    bool WindowInStream = false)
{
    /// <summary>
    /// The first compressed byte needed to resume here: the window's start when it lies in the stream, else the
    /// partly used byte when <see cref="Bits"/> is non-zero, else <see cref="In"/>.
    /// </summary>
    public CompressedOffset FetchStart => WindowInStream ? new CompressedOffset(In.Value - WindowCodec.Segments(CompressedWindow).First().Back)
        : Bits == 0 ? In : new CompressedOffset(In.Value - 1);

    /// <summary>How many fetched bytes precede the deflate data proper (the in-stream window, or the prime byte).</summary>
    public int Preamble => (int)(In.Value - FetchStart.Value);
}
