using Clip.Fuse;
using Clip.Index;
using Clip.Interop;

namespace Clip.FileSystem;

/// <summary>
/// stat(2) attributes and extended attributes of an index entry, shared by the layer and merged trees.
/// Everything here works on spans over the index: nothing allocates (the LOOKUP/GETATTR hot path).
/// </summary>
internal static class EntryAttributes
{
    /// <summary>st_blksize reported for every node: large, so that tools that size their buffers by it read in big chunks.</summary>
    public const uint PreferredBlockSize = 128 * 1024;

    /// <summary>The overlayfs opaque-directory marker (fs/overlayfs/overlayfs.h OVL_XATTR_OPAQUE, "trusted." prefix).</summary>
    public static ReadOnlySpan<byte> OpaqueName => "trusted.overlay.opaque"u8;
    public static ReadOnlySpan<byte> OpaqueValue => "y"u8;

    /// <summary>The S_IFMT bits of an entry type; a whiteout is a character device (0/0), as overlayfs expects.</summary>
    public static uint FileType(EntryType type) => type switch
    {
        EntryType.Regular => FileTypes.Regular,
        EntryType.Directory => FileTypes.Directory,
        EntryType.Symlink => FileTypes.Symlink,
        EntryType.CharDevice or EntryType.Whiteout => FileTypes.CharacterDevice,
        EntryType.BlockDevice => FileTypes.BlockDevice,
        EntryType.Fifo => FileTypes.Fifo,
        _ => FileTypes.Regular, // a hardlink is always resolved to its target before this
    };

    /// <summary>
    /// Fills <paramref name="a"/> from <paramref name="inode"/> (an entry that holds an inode: never a hardlink name).
    /// The tar has only mtime; atime and ctime report it too, so the view is the same on every mount.
    /// </summary>
    public static void Fill(in Entry inode, uint linkCount, out NodeAttributes a)
    {
        var type = inode.Type;
        a = default;
        a.Mode = FileType(type) | (inode.Mode & 0xFFF);
        a.LinkCount = linkCount;
        a.Uid = inode.Uid;
        a.Gid = inode.Gid;
        a.BlockSize = PreferredBlockSize;
        switch (type)
        {
            case EntryType.Regular:
                a.Size = inode.Size;
                a.Blocks = NodeAttributes.BlocksFor(inode.Size);
                break;
            case EntryType.Symlink:
                a.Size = inode.SymlinkTarget.Length;
                break;
            case EntryType.Directory:
                a.Size = 4096;
                a.Blocks = 8;
                break;
            case EntryType.CharDevice or EntryType.BlockDevice:
                a.DeviceMajor = inode.DevMajor;
                a.DeviceMinor = inode.DevMinor;
                break;
        }
        long seconds = inode.MTimeSeconds;
        uint nanos = (uint)Math.Clamp(inode.MTimeNanoseconds, 0, 999_999_999);
        a.ModificationTimeSeconds = a.AccessTimeSeconds = a.ChangeTimeSeconds = seconds;
        a.ModificationTimeNanoseconds = a.AccessTimeNanoseconds = a.ChangeTimeNanoseconds = nanos;
    }

    /// <summary>Copies a symlink's target (readlink(2)).</summary>
    public static Errno ReadLink(in Entry inode, Span<byte> destination, out int length)
    {
        length = 0;
        if (inode.Type != EntryType.Symlink) return Errno.EINVAL;
        var target = inode.SymlinkTarget;
        if (target.Length > destination.Length) return Errno.ENAMETOOLONG;
        target.CopyTo(destination);
        length = target.Length;
        return 0;
    }

    /// <summary>
    /// getxattr(2) over the entry's own xattrs (as in the tar), plus <c>trusted.overlay.opaque=y</c> when
    /// <paramref name="opaque"/> (a layer tree's opaque directory).
    /// </summary>
    public static Errno GetXattr(in Entry inode, bool opaque, ReadOnlySpan<byte> name, Span<byte> destination, out int length)
    {
        if (opaque && name.SequenceEqual(OpaqueName))
            return Value(OpaqueValue, destination, out length);
        int count = inode.AttributeCount;
        for (int i = 0; i < count; i++)
        {
            var attribute = inode.Attribute(i);
            if (attribute.Kind == AttributeKind.Xattr && attribute.Key.SequenceEqual(name))
                return Value(attribute.Value, destination, out length);
        }
        length = 0;
        return Errno.ENODATA;
    }

    /// <summary>listxattr(2): every name NUL-terminated; the length alone when it does not fit (the server answers ERANGE).</summary>
    public static Errno ListXattrs(in Entry inode, bool opaque, Span<byte> destination, out int length)
    {
        length = 0;
        bool fits = true;
        if (opaque) Append(OpaqueName, destination, ref length, ref fits);
        int count = inode.AttributeCount;
        for (int i = 0; i < count; i++)
        {
            var attribute = inode.Attribute(i);
            if (attribute.Kind != AttributeKind.Xattr) continue;
            if (opaque && attribute.Key.SequenceEqual(OpaqueName)) continue; // listed once
            Append(attribute.Key, destination, ref length, ref fits);
        }
        return 0;
    }

    private static void Append(ReadOnlySpan<byte> name, Span<byte> destination, ref int length, ref bool fits)
    {
        int need = name.Length + 1;
        if (fits && length + need <= destination.Length)
        {
            name.CopyTo(destination[length..]);
            destination[length + name.Length] = 0;
        }
        else
        {
            fits = false;
        }
        length += need;
    }

    private static Errno Value(ReadOnlySpan<byte> value, Span<byte> destination, out int length)
    {
        length = value.Length;
        if (value.Length <= destination.Length) value.CopyTo(destination);
        return 0;
    }
}
