using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Clip.Fuse.Protocol;

/// <summary>
/// Reading and writing the fuse.h structs over spans. The ABI is host-endian and every struct is
/// padded to 8 bytes by the header's own rule, so <see cref="MemoryMarshal"/> over the mirrored
/// structs is the exact layout (the tests pin every size to fuse.h).
/// </summary>
public static class Wire
{
    /// <summary>
    /// Reads a <typeparamref name="T"/> from the start of <paramref name="source"/>. A shorter source is an
    /// older minor's prefix of the struct: the missing tail reads as zero.
    /// </summary>
    public static T Read<T>(ReadOnlySpan<byte> source) where T : unmanaged
    {
        if (source.Length >= Unsafe.SizeOf<T>()) return MemoryMarshal.Read<T>(source);
        T value = default;
        source.CopyTo(MemoryMarshal.AsBytes(new Span<T>(ref value)));
        return value;
    }

    /// <summary>Writes all of <paramref name="value"/> at the start of <paramref name="destination"/>; returns its size.</summary>
    public static int Write<T>(Span<byte> destination, in T value) where T : unmanaged
    {
        MemoryMarshal.Write(destination, in value);
        return Unsafe.SizeOf<T>();
    }

    /// <summary>The bytes of a NUL-terminated string at the start of <paramref name="source"/>, without the NUL (all of it if there is none).</summary>
    public static ReadOnlySpan<byte> CString(ReadOnlySpan<byte> source)
    {
        int nul = source.IndexOf((byte)0);
        return nul < 0 ? source : source[..nul];
    }
}

/// <summary>Reply struct sizes for a negotiated minor: each older layout is a prefix of the current one (fuse.h compat sizes).</summary>
public readonly record struct ProtocolSizes(int EntryOut, int AttrOut, int InitOut, int StatfsOut)
{
    public static ProtocolSizes For(uint minor) => new(
        EntryOut: minor < 9 ? FuseKernel.CompatEntryOutSize : FuseEntryOut.WireSize,
        AttrOut: minor < 9 ? FuseKernel.CompatAttrOutSize : FuseAttrOut.WireSize,
        InitOut: minor < 5 ? FuseKernel.CompatInitOutSize : minor < 23 ? FuseKernel.Compat22InitOutSize : FuseInitOut.WireSize,
        StatfsOut: minor < 4 ? FuseKernel.CompatStatfsSize : FuseKstatfs.WireSize);
}
