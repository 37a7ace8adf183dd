using System.Runtime.InteropServices;

namespace Clip.Fuse.Protocol;

/// <summary>struct fuse_attr (fuse.h 7.45): 88 bytes; blksize and flags (the last 8) arrived in 7.9.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseAttr
{
    public const int WireSize = 88;

    public ulong Ino;
    public ulong Size;
    public ulong Blocks;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    /// <summary>The kernel decodes this with new_decode_dev (linux/kdev_t.h), not the 64-bit glibc dev_t layout.</summary>
    public uint Rdev;
    public uint Blksize;
    /// <summary>FUSE_ATTR_SUBMOUNT, FUSE_ATTR_DAX (7.32+): unused by clip.</summary>
    public uint Flags;
}

/// <summary>struct fuse_entry_out (fuse.h 7.45): the answer to LOOKUP and each READDIRPLUS entry. 128 bytes; 120 before 7.9.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseEntryOut
{
    public const int WireSize = 128;

    /// <summary>Node id; 0 with a success status is a cacheable negative entry.</summary>
    public ulong NodeId;
    /// <summary>nodeid:generation must be unique for the filesystem's lifetime.</summary>
    public ulong Generation;
    public ulong EntryValid;
    public ulong AttrValid;
    public uint EntryValidNsec;
    public uint AttrValidNsec;
    public FuseAttr Attr;
}

/// <summary>struct fuse_attr_out (fuse.h 7.45): the answer to GETATTR. 104 bytes; 96 before 7.9.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseAttrOut
{
    public const int WireSize = 104;

    public ulong AttrValid;
    public uint AttrValidNsec;
    public uint Dummy;
    public FuseAttr Attr;
}

/// <summary>struct fuse_getattr_in (fuse.h, 7.9+): 16 bytes; before 7.9 GETATTR had no body.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseGetattrIn
{
    public const int WireSize = 16;

    public GetattrFlags GetattrFlags;
    public uint Dummy;
    public ulong Fh;
}
