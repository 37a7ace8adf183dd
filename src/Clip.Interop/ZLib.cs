using System.Runtime.InteropServices;

namespace Clip.Interop;

/// <summary>zlib return codes (zlib.h 1.2.x).</summary>
public enum ZResult
{
    Ok = 0,
    StreamEnd = 1,
    NeedDict = 2,
    ErrNo = -1,
    StreamError = -2,
    DataError = -3,
    MemError = -4,
    BufError = -5,
    VersionError = -6,
}

/// <summary>zlib flush values (zlib.h).</summary>
public enum ZFlush
{
    NoFlush = 0,
    SyncFlush = 2,
    Finish = 4,
    /// <summary>Stop at the end of every deflate block (and after the header): how zran.c finds resume points.</summary>
    Block = 5,
}

/// <summary>
/// A raw-deflate inflater over the system zlib (libz.so.1). It owns one z_stream in unmanaged
/// memory; the only operations are the ones random access needs: inflate (with Z_BLOCK),
/// inflatePrime (resume mid-byte), inflateSetDictionary (restore the 32 KiB window) and reset.
/// Not thread-safe: one inflater per reader.
/// </summary>
public sealed unsafe partial class ZInflater : IDisposable
{
    private const string Lib = "libz.so.1";

    // z_stream on LP64 (zlib.h): offsets of the fields we touch.
    private const int SizeOfZStream = 112;
    private const int OffNextIn = 0, OffAvailIn = 8, OffTotalIn = 16, OffNextOut = 24, OffAvailOut = 32, OffTotalOut = 40,
        OffMsg = 48, OffDataType = 88;

    [LibraryImport(Lib, EntryPoint = "zlibVersion")]
    private static partial byte* zlibVersion();

    [LibraryImport(Lib, EntryPoint = "inflateInit2_")]
    private static partial int inflateInit2_(byte* strm, int windowBits, byte* version, int streamSize);

    [LibraryImport(Lib, EntryPoint = "inflate")]
    private static partial int inflate(byte* strm, int flush);

    [LibraryImport(Lib, EntryPoint = "inflateEnd")]
    private static partial int inflateEnd(byte* strm);

    [LibraryImport(Lib, EntryPoint = "inflateReset")]
    private static partial int inflateReset(byte* strm);

    [LibraryImport(Lib, EntryPoint = "inflatePrime")]
    private static partial int inflatePrime(byte* strm, int bits, int value);

    [LibraryImport(Lib, EntryPoint = "inflateSetDictionary")]
    private static partial int inflateSetDictionary(byte* strm, byte* dictionary, uint length);

    [LibraryImport(Lib, EntryPoint = "crc32")]
    private static partial nuint crc32(nuint crc, byte* buf, uint len);

    private byte* _strm;
    private bool _initialised;

    /// <summary>Creates a raw (headerless, windowBits -15) inflater.</summary>
    public ZInflater()
    {
        _strm = (byte*)NativeMemory.AllocZeroed(SizeOfZStream);
        int rc = inflateInit2_(_strm, -15, zlibVersion(), SizeOfZStream);
        if (rc != 0)
        {
            NativeMemory.Free(_strm);
            _strm = null;
            throw new InvalidOperationException($"zlib inflateInit2 failed: {(ZResult)rc}");
        }
        _initialised = true;
    }

    /// <summary>The system zlib's version string.</summary>
    public static string Version => Marshal.PtrToStringUTF8((nint)zlibVersion()) ?? "unknown";

    /// <summary>
    /// z_stream.data_type after the last inflate: bit 7 set when stopped at a block end, bit 6
    /// when that block was the last one, low three bits the unused bits in the last input byte.
    /// </summary>
    public int DataType => *(int*)(Ptr + OffDataType);

    /// <summary>Total compressed bytes consumed since init or reset.</summary>
    public long TotalIn => (long)*(ulong*)(Ptr + OffTotalIn);

    /// <summary>Total bytes produced since init or reset.</summary>
    public long TotalOut => (long)*(ulong*)(Ptr + OffTotalOut);

    private byte* Ptr => _strm != null ? _strm : throw new ObjectDisposedException(nameof(ZInflater));

    /// <summary>
    /// One inflate call. Returns zlib's code; <paramref name="consumed"/> and <paramref name="produced"/>
    /// say how much of each buffer was used. Data errors come back as <see cref="ZResult.DataError"/>
    /// with <see cref="LastMessage"/> set; the caller decides how to report them.
    /// </summary>
    public ZResult Inflate(ReadOnlySpan<byte> input, Span<byte> output, ZFlush flush, out int consumed, out int produced)
    {
        byte* s = Ptr;
        byte dummy = 0;
        fixed (byte* pin = input)
        fixed (byte* pfixed = output)
        {
            // zlib refuses a null next_out (Z_STREAM_ERROR) even when avail_out is 0.
            byte* pout = output.IsEmpty ? &dummy : pfixed;
            *(byte**)(s + OffNextIn) = pin;
            *(uint*)(s + OffAvailIn) = (uint)input.Length;
            *(byte**)(s + OffNextOut) = pout;
            *(uint*)(s + OffAvailOut) = (uint)output.Length;
            int rc = inflate(s, (int)flush);
            consumed = input.Length - (int)*(uint*)(s + OffAvailIn);
            produced = output.Length - (int)*(uint*)(s + OffAvailOut);
            // zlib must not keep pointers into our (pinned only for this call) buffers.
            *(byte**)(s + OffNextIn) = null;
            *(byte**)(s + OffNextOut) = null;
            return (ZResult)rc;
        }
    }

    /// <summary>zlib's message for the last error, if any.</summary>
    public string? LastMessage
    {
        get
        {
            byte* msg = *(byte**)(Ptr + OffMsg);
            return msg == null ? null : Marshal.PtrToStringUTF8((nint)msg);
        }
    }

    /// <summary>inflateReset: start a new raw deflate stream (next gzip member, or a new checkpoint).</summary>
    public void Reset()
    {
        int rc = inflateReset(Ptr);
        if (rc != 0) throw new InvalidOperationException($"zlib inflateReset failed: {(ZResult)rc}");
    }

    /// <summary>inflatePrime: feed the <paramref name="bits"/> low bits of <paramref name="value"/> before the next input byte.</summary>
    public void Prime(int bits, int value)
    {
        int rc = inflatePrime(Ptr, bits, value);
        if (rc != 0) throw new InvalidOperationException($"zlib inflatePrime failed: {(ZResult)rc}");
    }

    /// <summary>inflateSetDictionary: the 32 KiB of output that precede the resume point.</summary>
    public void SetDictionary(ReadOnlySpan<byte> window)
    {
        fixed (byte* p = window)
        {
            int rc = inflateSetDictionary(Ptr, p, (uint)window.Length);
            if (rc != 0) throw new InvalidOperationException($"zlib inflateSetDictionary failed: {(ZResult)rc}");
        }
    }

    /// <summary>crc32 as gzip trailers use it; start with 0.</summary>
    public static uint Crc32(uint crc, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            return (uint)crc32(crc, p, (uint)data.Length);
        }
    }

    public void Dispose()
    {
        if (_strm == null) return;
        if (_initialised) inflateEnd(_strm);
        NativeMemory.Free(_strm);
        _strm = null;
        GC.SuppressFinalize(this);
    }

    ~ZInflater()
    {
        if (_strm != null)
        {
            if (_initialised) inflateEnd(_strm);
            NativeMemory.Free(_strm);
        }
    }
}
