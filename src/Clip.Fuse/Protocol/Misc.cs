using System.Runtime.InteropServices;

namespace Clip.Fuse.Protocol;

/// <summary>struct fuse_forget_in (fuse.h): how many lookups of the header's node the kernel drops.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseForgetIn
{
    public const int WireSize = 8;

    public ulong Nlookup;
}

/// <summary>struct fuse_batch_forget_in (fuse.h, 7.16+), followed by <see cref="Count"/> <see cref="FuseForgetOne"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseBatchForgetIn
{
    public const int WireSize = 8;

    public uint Count;
    public uint Dummy;
}

/// <summary>struct fuse_forget_one (fuse.h, 7.16+).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseForgetOne
{
    public const int WireSize = 16;

    public ulong NodeId;
    public ulong Nlookup;
}

/// <summary>struct fuse_interrupt_in (fuse.h, 7.7+): the unique of the request to interrupt.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseInterruptIn
{
    public const int WireSize = 8;

    public ulong Unique;
}

/// <summary>struct fuse_kstatfs (fuse.h 7.45) = fuse_statfs_out: 80 bytes, 48 before 7.4 (no frsize, padding, spare).</summary>
[StructLayout(LayoutKind.Sequential, Size = WireSize)]
public struct FuseKstatfs
{
    public const int WireSize = 80;

    public ulong Blocks;
    public ulong Bfree;
    public ulong Bavail;
    public ulong Files;
    public ulong Ffree;
    public uint Bsize;
    public uint Namelen;
    public uint Frsize;
    public uint Padding;
    // uint32_t spare[6] follow: the struct's declared size keeps them (zero).
}

/// <summary>struct fuse_dirent (fuse.h): 24 bytes, then namelen bytes of name, padded to 8 (FUSE_DIRENT_ALIGN).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseDirent
{
    /// <summary>FUSE_NAME_OFFSET.</summary>
    public const int WireSize = 24;

    public ulong Ino;
    /// <summary>The offset cookie of the entry after this one.</summary>
    public ulong Off;
    public uint Namelen;
    /// <summary>DT_* type: the S_IFMT bits of the mode shifted right by 12.</summary>
    public uint Type;

    /// <summary>FUSE_DIRENT_ALIGN / FUSE_REC_ALIGN: records are padded to 8 bytes.</summary>
    public static int Align(int length) => (length + 7) & ~7;
}
