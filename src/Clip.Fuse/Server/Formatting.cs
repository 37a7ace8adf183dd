using Clip.Fuse.Protocol;

namespace Clip.Fuse.Server;

/// <summary>A kernel cache timeout as fuse.h carries it: whole seconds plus nanoseconds.</summary>
internal readonly record struct Validity(ulong Seconds, uint Nanoseconds)
{
    public static Validity From(TimeSpan span)
    {
        if (span <= TimeSpan.Zero) return default;
        return new Validity((ulong)(span.Ticks / TimeSpan.TicksPerSecond), (uint)(span.Ticks % TimeSpan.TicksPerSecond * 100));
    }
}

/// <summary>The three cache timeouts every entry and attribute reply carries.</summary>
internal readonly record struct CacheTimes(Validity Entry, Validity Attributes, Validity Negative)
{
    public static CacheTimes From(FuseServerOptions options) =>
        new(Validity.From(options.EntryTimeout), Validity.From(options.AttributeTimeout), Validity.From(options.NegativeEntryTimeout));
}

/// <summary>Node API values to fuse.h structs.</summary>
internal static class Formatting
{
    /// <summary>new_encode_dev (linux/kdev_t.h): the 32-bit dev_t fuse_attr.rdev carries.</summary>
    public static uint EncodeDevice(uint major, uint minor) => (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);

    public static FuseAttr ToFuseAttr(NodeId node, in NodeAttributes a) => new()
    {
        Ino = a.Inode != 0 ? a.Inode : node.Value,
        Size = (ulong)a.Size,
        Blocks = (ulong)a.Blocks,
        Atime = (ulong)a.AccessTimeSeconds,
        Mtime = (ulong)a.ModificationTimeSeconds,
        Ctime = (ulong)a.ChangeTimeSeconds,
        AtimeNsec = a.AccessTimeNanoseconds,
        MtimeNsec = a.ModificationTimeNanoseconds,
        CtimeNsec = a.ChangeTimeNanoseconds,
        Mode = a.Mode,
        Nlink = a.LinkCount,
        Uid = a.Uid,
        Gid = a.Gid,
        Rdev = EncodeDevice(a.DeviceMajor, a.DeviceMinor),
        Blksize = a.BlockSize,
    };

    public static FuseEntryOut ToEntryOut(in NodeEntry entry, in CacheTimes times) => new()
    {
        NodeId = entry.NodeId.Value,
        Generation = entry.Generation,
        EntryValid = times.Entry.Seconds,
        EntryValidNsec = times.Entry.Nanoseconds,
        AttrValid = times.Attributes.Seconds,
        AttrValidNsec = times.Attributes.Nanoseconds,
        Attr = ToFuseAttr(entry.NodeId, entry.Attributes),
    };

    /// <summary>A success reply without a node: the kernel caches the name as absent for the negative timeout (fs/fuse/dir.c fuse_lookup_name).</summary>
    public static FuseEntryOut NegativeEntry(in CacheTimes times) => new()
    {
        EntryValid = times.Negative.Seconds,
        EntryValidNsec = times.Negative.Nanoseconds,
    };
}
