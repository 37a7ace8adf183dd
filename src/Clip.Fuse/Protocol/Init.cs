using System.Runtime.InteropServices;

namespace Clip.Fuse.Protocol;

/// <summary>struct fuse_init_in (fuse.h 7.45): 64 bytes since 7.36 (flags2 and 11 reserved words); 16 before.</summary>
[StructLayout(LayoutKind.Sequential, Size = WireSize)]
public struct FuseInitIn
{
    public const int WireSize = 64;

    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    /// <summary>Bits 32..63 of the flags, valid when <see cref="InitFlags.InitExt"/> is set (7.36).</summary>
    public uint Flags2;

    /// <summary>The 64-bit flag set, flags2 included only when the kernel marked it valid.</summary>
    public readonly InitFlags AllFlags =>
        ((InitFlags)Flags & InitFlags.InitExt) != 0 ? (InitFlags)(((ulong)Flags2 << 32) | Flags) : (InitFlags)Flags;
}

/// <summary>
/// struct fuse_init_out (fuse.h 7.45): 64 bytes. Peers on older minors read a prefix: 8 bytes before
/// 7.5, 24 bytes (through max_write) before 7.23.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = WireSize)]
public struct FuseInitOut
{
    public const int WireSize = 64;

    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public ushort MaxBackground;
    public ushort CongestionThreshold;
    public uint MaxWrite;
    /// <summary>Timestamp granularity in ns (7.23).</summary>
    public uint TimeGran;
    /// <summary>Pages per request (7.28, with FUSE_MAX_PAGES).</summary>
    public ushort MaxPages;
    public ushort MapAlignment;
    /// <summary>Bits 32..63 of the flags (7.36, with FUSE_INIT_EXT).</summary>
    public uint Flags2;
    /// <summary>Passthrough backing stack depth (7.40).</summary>
    public uint MaxStackDepth;
    /// <summary>Request timeout in seconds (7.43, with FUSE_REQUEST_TIMEOUT).</summary>
    public ushort RequestTimeout;
}
