using System.Buffers.Binary;
using System.Text;
using Clip.Gzip;
using Clip.Index.Format;

namespace Clip.Index;

/// <summary>
/// A view of one entry of a <see cref="LayerIndex"/>. For a hardlink, <see cref="Target"/> is the
/// entry that holds the inode (type, mode, owner, content); the link itself has only a name.
/// </summary>
public readonly struct Entry : IEquatable<Entry>
{
    internal Entry(LayerIndex layer, int index)
    {
        Layer = layer;
        Index = index;
    }

    public LayerIndex Layer { get; }
    public int Index { get; }

    private ReadOnlySpan<byte> R => Layer.Record(Index);

    public ReadOnlySpan<byte> Name => Layer.NameOf(Index);
    public string NameString => Encoding.UTF8.GetString(Name);
    public int ParentIndex => (int)LayerIndex.U32(R, EntryLayout.Parent);
    public bool IsRoot => Index == 0;
    public EntryType Type => (EntryType)R[EntryLayout.Type];
    public EntryFlags Flags => (EntryFlags)R[EntryLayout.Flags];
    public bool IsOpaque => (Flags & EntryFlags.Opaque) != 0;

    /// <summary>The entry holding this entry's inode: itself, or a hardlink's target.</summary>
    public Entry Target => Type == EntryType.Hardlink ? new Entry(Layer, (int)LayerIndex.U32(R, EntryLayout.Ref1)) : this;

    /// <summary>Permission bits with setuid/setgid/sticky (07777).</summary>
    public uint Mode => LayerIndex.U32(R, EntryLayout.Mode);
    public uint Uid => LayerIndex.U32(R, EntryLayout.Uid);
    public uint Gid => LayerIndex.U32(R, EntryLayout.Gid);
    public long MTimeSeconds => LayerIndex.I64(R, EntryLayout.MTimeSeconds);
    public int MTimeNanoseconds => (int)LayerIndex.U32(R, EntryLayout.MTimeNanoseconds);
    public uint LinkCount => LayerIndex.U32(R, EntryLayout.LinkCount);
    /// <summary>Content length (regular), target length (symlink), 0 otherwise.</summary>
    public long Size => LayerIndex.I64(R, EntryLayout.FileSize);
    /// <summary>Where a regular file's content starts in the uncompressed layer.</summary>
    public UncompressedOffset DataOffset => new(LayerIndex.I64(R, EntryLayout.DataOffset));
    /// <summary>The compressed offset by which all of a regular file's content has been produced.</summary>
    public CompressedOffset CompleteBy => new(LayerIndex.I64(R, EntryLayout.CompleteBy));
    public int FirstChild => Type == EntryType.Directory ? (int)LayerIndex.U32(R, EntryLayout.Ref1) : 0;
    public int ChildCount => Type == EntryType.Directory ? (int)LayerIndex.U32(R, EntryLayout.Ref2) : 0;
    public uint DevMajor => Type is EntryType.CharDevice or EntryType.BlockDevice ? LayerIndex.U32(R, EntryLayout.Ref1) : 0;
    public uint DevMinor => Type is EntryType.CharDevice or EntryType.BlockDevice ? LayerIndex.U32(R, EntryLayout.Ref2) : 0;
    public string UserName => Layer.OwnerName(BinaryPrimitives.ReadUInt16LittleEndian(R[EntryLayout.UserName..]));
    public string GroupName => Layer.OwnerName(BinaryPrimitives.ReadUInt16LittleEndian(R[EntryLayout.GroupName..]));

    /// <summary>A symlink's target, as the tar stored it.</summary>
    public ReadOnlySpan<byte> SymlinkTarget => Type == EntryType.Symlink
        ? Layer.String(LayerIndex.U32(R, EntryLayout.Ref1), (int)LayerIndex.U32(R, EntryLayout.Ref2))
        : [];

    public int AttributeCount => BinaryPrimitives.ReadUInt16LittleEndian(R[EntryLayout.AttrCount..]);

    /// <summary>Attribute <paramref name="i"/> of this entry (0 ≤ i &lt; <see cref="AttributeCount"/>).</summary>
    public AttributeView Attribute(int i)
    {
        if ((uint)i >= (uint)AttributeCount) throw new ArgumentOutOfRangeException(nameof(i));
        var a = Layer.AttributeRecord((int)LayerIndex.U32(R, EntryLayout.AttrStart) + i);
        return new AttributeView((AttributeKind)a[AttributeLayout.Kind],
            Layer.String(LayerIndex.U32(a, AttributeLayout.KeyOffset), BinaryPrimitives.ReadUInt16LittleEndian(a[AttributeLayout.KeyLength..])),
            Layer.String(LayerIndex.U32(a, AttributeLayout.ValueOffset), (int)LayerIndex.U32(a, AttributeLayout.ValueLength)));
    }

    /// <summary>Extended attributes as (name, value) pairs.</summary>
    public IEnumerable<KeyValuePair<string, byte[]>> Xattrs()
    {
        var list = new List<KeyValuePair<string, byte[]>>();
        for (int i = 0; i < AttributeCount; i++)
        {
            var a = Attribute(i);
            if (a.Kind == AttributeKind.Xattr) list.Add(new(Encoding.UTF8.GetString(a.Key), a.Value.ToArray()));
        }
        return list;
    }

    /// <summary>PAX records clip keeps but does not interpret.</summary>
    public IEnumerable<KeyValuePair<string, string>> PaxRecords()
    {
        var list = new List<KeyValuePair<string, string>>();
        for (int i = 0; i < AttributeCount; i++)
        {
            var a = Attribute(i);
            if (a.Kind == AttributeKind.PaxRecord) list.Add(new(Encoding.UTF8.GetString(a.Key), Encoding.UTF8.GetString(a.Value)));
        }
        return list;
    }

    /// <summary>Children of a directory, in name order.</summary>
    public IEnumerable<Entry> Children()
    {
        var layer = Layer;
        int first = FirstChild, count = ChildCount;
        for (int i = 0; i < count; i++) yield return new Entry(layer, first + i);
    }

    public Entry Parent => new(Layer, ParentIndex);

    /// <summary>The path from the layer root, "a/b/c" ("" for the root).</summary>
    public string Path
    {
        get
        {
            if (IsRoot) return "";
            var parts = new List<string>();
            for (var e = this; !e.IsRoot; e = e.Parent) parts.Add(e.NameString);
            parts.Reverse();
            return string.Join('/', parts);
        }
    }

    public bool Equals(Entry other) => ReferenceEquals(Layer, other.Layer) && Index == other.Index;
    public override bool Equals(object? obj) => obj is Entry e && Equals(e);
    public override int GetHashCode() => HashCode.Combine(Layer, Index);
    public override string ToString() => $"{Path} ({Type})";
}

/// <summary>One attribute of an entry, as slices of the index.</summary>
public readonly ref struct AttributeView(AttributeKind kind, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
{
    public AttributeKind Kind { get; } = kind;
    public ReadOnlySpan<byte> Key { get; } = key;
    public ReadOnlySpan<byte> Value { get; } = value;
}
