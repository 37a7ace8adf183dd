using System.Runtime.InteropServices;

namespace Clip.Fuse.Protocol;

/// <summary>struct fuse_open_in (fuse.h 7.45), body of OPEN and OPENDIR: open(2) flags and FUSE_OPEN_* flags.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseOpenIn
{
    public const int WireSize = 8;

    public uint Flags;
    public uint OpenFlags;
}

/// <summary>struct fuse_open_out (fuse.h 7.45): the handle and FOPEN_* flags; backing_id (7.40) was padding before.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseOpenOut
{
    public const int WireSize = 16;

    public ulong Fh;
    public OpenReplyFlags OpenFlags;
    public int BackingId;
}

/// <summary>struct fuse_read_in (fuse.h 7.45), body of READ, READDIR, READDIRPLUS: 40 bytes, 24 before 7.9.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseReadIn
{
    public const int WireSize = 40;

    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint ReadFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

/// <summary>struct fuse_release_in (fuse.h 7.45), body of RELEASE and RELEASEDIR: 24 bytes, 16 before 7.8.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseReleaseIn
{
    public const int WireSize = 24;

    public ulong Fh;
    public uint Flags;
    public uint ReleaseFlags;
    public ulong LockOwner;
}

/// <summary>struct fuse_flush_in (fuse.h 7.45): 24 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseFlushIn
{
    public const int WireSize = 24;

    public ulong Fh;
    public uint Unused;
    public uint Padding;
    public ulong LockOwner;
}

/// <summary>struct fuse_access_in (fuse.h, 7.3+): the access(2) mask.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseAccessIn
{
    public const int WireSize = 8;

    public uint Mask;
    public uint Padding;
}
