namespace Clip.Fuse;

/// <summary>The S_IFMT file type bits of a mode (linux/stat.h).</summary>
public static class FileTypes
{
    public const uint Mask = 0xF000;
    public const uint Fifo = 0x1000;
    public const uint CharacterDevice = 0x2000;
    public const uint Directory = 0x4000;
    public const uint BlockDevice = 0x6000;
    public const uint Regular = 0x8000;
    public const uint Symlink = 0xA000;
    public const uint Socket = 0xC000;
}

/// <summary>
/// What stat(2) reports for a node. Plain fields, so a filesystem fills it on the hot path without
/// allocating. Times are seconds and nanoseconds since the epoch.
/// </summary>
public struct NodeAttributes
{
    /// <summary>st_ino; 0 reports the node id. Hard links share one inode (and usually one node id).</summary>
    public ulong Inode;
    /// <summary>File type (<see cref="FileTypes"/>) and permission bits, e.g. <c>FileTypes.Regular | 0x1A4</c> (0644).</summary>
    public uint Mode;
    /// <summary>st_nlink: true link count (hard links), 2 + subdirectories for a directory.</summary>
    public uint LinkCount;
    public uint Uid;
    public uint Gid;
    /// <summary>Length in bytes (of the target, for a symlink).</summary>
    public long Size;
    /// <summary>st_blocks in 512-byte units; see <see cref="BlocksFor"/>.</summary>
    public long Blocks;
    /// <summary>Device numbers of a character or block device (a whiteout is a char device 0/0).</summary>
    public uint DeviceMajor;
    public uint DeviceMinor;
    /// <summary>st_blksize; 0 leaves the kernel default.</summary>
    public uint BlockSize;
    public long AccessTimeSeconds;
    public uint AccessTimeNanoseconds;
    public long ModificationTimeSeconds;
    public uint ModificationTimeNanoseconds;
    public long ChangeTimeSeconds;
    public uint ChangeTimeNanoseconds;

    /// <summary>The 512-byte block count of a dense file of <paramref name="size"/> bytes.</summary>
    public static long BlocksFor(long size) => (size + 511) / 512;

    /// <summary>The file type bits of <see cref="Mode"/>.</summary>
    public readonly uint FileType => Mode & FileTypes.Mask;
}

/// <summary>A name resolved to a node: its id, generation and attributes (LOOKUP, READDIRPLUS).</summary>
public struct NodeEntry
{
    public NodeId NodeId;
    /// <summary>nodeid:generation must never name two different files in one mount's lifetime; 0 is fine for ids that are never reused.</summary>
    public ulong Generation;
    public NodeAttributes Attributes;

    public NodeEntry(NodeId nodeId, in NodeAttributes attributes, ulong generation = 0)
    {
        NodeId = nodeId;
        Generation = generation;
        Attributes = attributes;
    }
}

/// <summary>statfs(2) figures for the mount (fuse_kstatfs).</summary>
public struct FileSystemStatistics
{
    public ulong Blocks;
    public ulong FreeBlocks;
    public ulong AvailableBlocks;
    public ulong Files;
    public ulong FreeFiles;
    public uint BlockSize;
    public uint MaxNameLength;
    public uint FragmentSize;
}
