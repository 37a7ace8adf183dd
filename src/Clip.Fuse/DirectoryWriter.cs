using Clip.Fuse.Protocol;
using Clip.Fuse.Server;

namespace Clip.Fuse;

/// <summary>
/// Formats directory entries straight into a READDIR or READDIRPLUS reply (fuse_dirent / fuse_direntplus,
/// fuse.h 7.45). The filesystem adds entries until <see cref="TryAdd"/> says the reply is full.
/// </summary>
public ref struct DirectoryWriter
{
    private readonly Span<byte> _buffer;
    private readonly CacheTimes _times;
    private int _length;

    internal DirectoryWriter(Span<byte> buffer, bool plus, CacheTimes times)
    {
        _buffer = buffer;
        IsPlus = plus;
        _times = times;
        _length = 0;
        Count = 0;
    }

    /// <summary>READDIRPLUS: the entry's node id and attributes are sent too (and the kernel takes a lookup reference on each).</summary>
    public bool IsPlus { get; }

    /// <summary>Entries added so far.</summary>
    public int Count { get; private set; }

    /// <summary>Bytes of reply written so far.</summary>
    internal readonly int Length => _length;

    /// <summary>
    /// Appends <paramref name="name"/> (1 to 1024 bytes, no '/' or NUL) with its <paramref name="entry"/> and the cookie
    /// <paramref name="nextOffset"/> that resumes after it; false, writing nothing, when the reply is full. For plain
    /// READDIR only the inode and file type of the entry are used.
    /// </summary>
    public bool TryAdd(ReadOnlySpan<byte> name, in NodeEntry entry, ulong nextOffset)
    {
        if (name.IsEmpty || name.Length > FuseKernel.NameMax || name.IndexOfAny((byte)'/', (byte)0) >= 0)
            throw new ArgumentException($"invalid directory entry name ({name.Length} bytes)", nameof(name));

        int head = IsPlus ? FuseEntryOut.WireSize + FuseDirent.WireSize : FuseDirent.WireSize;
        int size = FuseDirent.Align(head + name.Length);
        if (_length + size > _buffer.Length) return false;

        var record = _buffer.Slice(_length, size);
        int at = 0;
        if (IsPlus) at += Wire.Write(record, Formatting.ToEntryOut(entry, _times));
        var dirent = new FuseDirent
        {
            Ino = entry.Attributes.Inode != 0 ? entry.Attributes.Inode : entry.NodeId.Value,
            Off = nextOffset,
            Namelen = (uint)name.Length,
            Type = entry.Attributes.FileType >> 12,
        };
        at += Wire.Write(record[at..], dirent);
        name.CopyTo(record[at..]);
        record[(at + name.Length)..].Clear();

        _length += size;
        Count++;
        return true;
    }
}
