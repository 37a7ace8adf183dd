using System.Buffers.Binary;
using System.Text;
using Clip.Gzip;
using Clip.Index.Format;
using Clip.Oci;

namespace Clip.Index;

/// <summary>
/// One layer's index, read in place from its section bytes: entries are views over fixed-size
/// records, names are byte slices, directory lookups are binary searches — loading allocates per
/// checkpoint, not per entry. The whole structure is validated when loaded, so accessors never
/// read outside the section. Entry 0 is the layer root; entry numbers are stable for a layer.
/// </summary>
public sealed class LayerIndex
{
    private readonly ReadOnlyMemory<byte> _section;
    private readonly int _entries, _strings, _stringsLength, _attributes, _owners, _checkpoints, _windows, _windowsLength, _chunks;
    private readonly Checkpoint[] _checkpointList;

    internal LayerIndex(ReadOnlyMemory<byte> section)
    {
        _section = section;
        var s = section.Span;
        if (s.Length < LayerLayout.HeaderSize) throw Bad("layer section shorter than its header");
        if (U32(s, LayerLayout.HeaderSizeField) != LayerLayout.HeaderSize) throw Bad("unexpected layer header size");
        Compression = (LayerCompression)s[LayerLayout.Compression];
        if (Compression is not (LayerCompression.Gzip or LayerCompression.None)) throw Bad($"unknown layer compression {(byte)Compression}");
        EntryCount = Count(s, LayerLayout.EntryCount);
        AttributeCount = Count(s, LayerLayout.AttributeCount);
        int ownerCount = Count(s, LayerLayout.OwnerCount);
        int checkpointCount = Count(s, LayerLayout.CheckpointCount);
        ChunkCount = Count(s, LayerLayout.ChunkCount);
        ChunkSize = Count(s, LayerLayout.ChunkSize);
        CompressedSize = I64(s, LayerLayout.CompressedSize);
        UncompressedSize = I64(s, LayerLayout.UncompressedSize);
        SpanSize = I64(s, LayerLayout.SpanSize);
        DroppedEntries = Count(s, LayerLayout.DroppedEntries);
        _entries = Table(s, LayerLayout.EntriesOffset, (long)EntryCount * EntryLayout.Size, "entries");
        _strings = Table(s, LayerLayout.StringsOffset, U32(s, LayerLayout.StringsLength), "strings");
        _stringsLength = (int)U32(s, LayerLayout.StringsLength);
        _attributes = Table(s, LayerLayout.AttributesOffset, (long)AttributeCount * AttributeLayout.Size, "attributes");
        _owners = Table(s, LayerLayout.OwnersOffset, (long)ownerCount * OwnerLayout.Size, "owner names");
        _checkpoints = Table(s, LayerLayout.CheckpointsOffset, (long)checkpointCount * CheckpointLayout.Size, "checkpoints");
        _windows = Table(s, LayerLayout.WindowsOffset, U32(s, LayerLayout.WindowsLength), "windows");
        _windowsLength = (int)U32(s, LayerLayout.WindowsLength);
        _chunks = Table(s, LayerLayout.ChunksOffset, (long)ChunkCount * 32, "chunk digests");
        OwnerCount = ownerCount;

        if (EntryCount < 1) throw Bad("a layer has at least its root entry");
        if (CompressedSize < 0 || UncompressedSize < 0) throw Bad("negative layer size");
        if (ChunkSize <= 0 || ChunkCount != (int)((CompressedSize + ChunkSize - 1) / ChunkSize)) throw Bad("chunk digest count does not match the layer size");
        if (!Digest.TryParse(Encoding.ASCII.GetString(StringAt(s, LayerLayout.DigestRef)), out var digest)) throw Bad("malformed layer digest");
        if (!Digest.TryParse(Encoding.ASCII.GetString(StringAt(s, LayerLayout.DiffIdRef)), out var diffId)) throw Bad("malformed diff ID");
        Digest = digest;
        DiffId = diffId;
        MediaType = Encoding.UTF8.GetString(StringAt(s, LayerLayout.MediaTypeRef));

        _checkpointList = new Checkpoint[checkpointCount];
        for (int i = 0; i < checkpointCount; i++)
        {
            var c = s.Slice(_checkpoints + i * CheckpointLayout.Size, CheckpointLayout.Size);
            long cin = BinaryPrimitives.ReadInt64LittleEndian(c[CheckpointLayout.In..]);
            long cout = BinaryPrimitives.ReadInt64LittleEndian(c[CheckpointLayout.Out..]);
            int bits = c[CheckpointLayout.Bits];
            byte flags = c[CheckpointLayout.Flags];
            bool inStream = (flags & CheckpointLayout.FlagWindowInStream) != 0;
            uint wlen = BinaryPrimitives.ReadUInt32LittleEndian(c[CheckpointLayout.WindowLength..]);
            uint woff = BinaryPrimitives.ReadUInt32LittleEndian(c[CheckpointLayout.WindowOffset..]);
            uint wclen = BinaryPrimitives.ReadUInt32LittleEndian(c[CheckpointLayout.WindowCompressedLength..]);
            if (bits > 7 || wlen > WindowCodec.WindowSize || (long)woff + wclen > _windowsLength || (flags & ~CheckpointLayout.FlagWindowInStream) != 0
                || (inStream ? bits != 0 || wclen == 0 || wclen % 8 != 0 || wclen > 8 * WindowCodec.MaxInStreamSegments : (wlen > 0) != (wclen > 0)))
                throw Bad($"checkpoint {i} is malformed");
            if (inStream && !ValidSegments(s.Slice(_windows + (int)woff, (int)wclen), cin, wlen)) throw Bad($"checkpoint {i} has a bad in-stream window");
            if (cin < 0 || cin > CompressedSize || cout < 0 || cout > UncompressedSize || bits > 0 && cin == 0)
                throw Bad($"checkpoint {i} lies outside the layer");
            if (i > 0 && (cout <= _checkpointList[i - 1].Out.Value || cin < _checkpointList[i - 1].In.Value))
                throw Bad($"checkpoint {i} is out of order");
            _checkpointList[i] = new Checkpoint(new CompressedOffset(cin), bits, new UncompressedOffset(cout),
                section.Slice(_windows + (int)woff, (int)wclen), (int)wlen, inStream);
        }
        if (Compression == LayerCompression.Gzip && checkpointCount == 0) throw Bad("a gzip layer index has no checkpoints");
        ValidateEntries(s);
    }

    /// <summary>In-stream window segments (oldest first) must lie before the checkpoint, in order, and add up to the window.</summary>
    private static bool ValidSegments(ReadOnlySpan<byte> table, long cin, uint wlen)
    {
        long total = 0, previousEnd = long.MinValue;
        for (int i = 0; i < table.Length; i += 8)
        {
            long back = BinaryPrimitives.ReadUInt32LittleEndian(table[i..]);
            long length = BinaryPrimitives.ReadUInt32LittleEndian(table[(i + 4)..]);
            long start = cin - back;
            if (back > cin || length == 0 || length > back || start < previousEnd) return false;
            previousEnd = start + length;
            total += length;
        }
        return total == wlen;
    }

    public Digest Digest { get; }
    public Digest DiffId { get; }
    public string MediaType { get; }
    public LayerCompression Compression { get; }
    public long CompressedSize { get; }
    public long UncompressedSize { get; }
    public long SpanSize { get; }
    public int EntryCount { get; }
    public int AttributeCount { get; }
    public int OwnerCount { get; }
    /// <summary>Tar entries that could not be placed in the tree (hardlinks to names outside the layer).</summary>
    public int DroppedEntries { get; }

    /// <summary>The size of a verification chunk: the compressed blob is hashed in chunks of this size.</summary>
    public int ChunkSize { get; }
    public int ChunkCount { get; }

    /// <summary>The sha256 of compressed chunk <paramref name="chunk"/> (bytes [chunk × ChunkSize, …) of the blob).</summary>
    public ReadOnlySpan<byte> ChunkDigest(int chunk) => _section.Span.Slice(_chunks + checked(chunk * 32), 32);

    /// <summary>Checkpoints in offset order (empty for uncompressed layers).</summary>
    public IReadOnlyList<Checkpoint> Checkpoints => _checkpointList;

    /// <summary>The raw section bytes (to copy this layer into another index file unchanged).</summary>
    public ReadOnlyMemory<byte> Section => _section;

    /// <summary>Bytes of the index that this layer takes.</summary>
    public long SectionSize => _section.Length;

    public Entry Root => new(this, 0);

    public Entry this[int index] => (uint)index < (uint)EntryCount ? new Entry(this, index) : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>The child of directory <paramref name="directory"/> called <paramref name="name"/> (exact bytes).</summary>
    public bool TryLookup(int directory, ReadOnlySpan<byte> name, out Entry entry)
    {
        var d = Record(directory);
        entry = default;
        if ((EntryType)d[EntryLayout.Type] != EntryType.Directory) return false;
        int lo = (int)U32(d, EntryLayout.Ref1), hi = lo + (int)U32(d, EntryLayout.Ref2) - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            int cmp = NameOf(mid).SequenceCompareTo(name);
            if (cmp == 0)
            {
                entry = new Entry(this, mid);
                return true;
            }
            if (cmp < 0) lo = mid + 1;
            else hi = mid - 1;
        }
        return false;
    }

    /// <summary>The entry at a slash-separated path (UTF-8), or null.</summary>
    public Entry? Find(string path)
    {
        int at = 0;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (!TryLookup(at, Encoding.UTF8.GetBytes(part), out var e)) return null;
            at = e.Index;
        }
        return new Entry(this, at);
    }

    /// <summary>All entries in breadth-first order.</summary>
    public IEnumerable<Entry> Entries()
    {
        for (int i = 0; i < EntryCount; i++) yield return new Entry(this, i);
    }

    internal ReadOnlySpan<byte> Record(int index) => _section.Span.Slice(_entries + index * EntryLayout.Size, EntryLayout.Size);

    internal ReadOnlySpan<byte> NameOf(int index)
    {
        var r = Record(index);
        return _section.Span.Slice(_strings + (int)U32(r, EntryLayout.NameOffset), BinaryPrimitives.ReadUInt16LittleEndian(r[EntryLayout.NameLength..]));
    }

    internal ReadOnlySpan<byte> String(uint offset, int length) => _section.Span.Slice(_strings + (int)offset, length);

    internal ReadOnlySpan<byte> AttributeRecord(int index) => _section.Span.Slice(_attributes + index * AttributeLayout.Size, AttributeLayout.Size);

    internal string OwnerName(int id)
    {
        var o = _section.Span.Slice(_owners + id * OwnerLayout.Size, OwnerLayout.Size);
        return Encoding.UTF8.GetString(String(U32(o, 0), BinaryPrimitives.ReadUInt16LittleEndian(o[4..])));
    }

    private void ValidateEntries(ReadOnlySpan<byte> s)
    {
        for (int i = 0; i < EntryCount; i++)
        {
            var r = s.Slice(_entries + i * EntryLayout.Size, EntryLayout.Size);
            uint parent = U32(r, EntryLayout.Parent);
            if (parent >= EntryCount || i > 0 && parent >= i) throw Bad($"entry {i} has a bad parent");
            CheckString(U32(r, EntryLayout.NameOffset), BinaryPrimitives.ReadUInt16LittleEndian(r[EntryLayout.NameLength..]), i);
            var type = (EntryType)r[EntryLayout.Type];
            uint ref1 = U32(r, EntryLayout.Ref1), ref2 = U32(r, EntryLayout.Ref2);
            switch (type)
            {
                case EntryType.Directory:
                    if (ref2 > 0 && (ref1 <= i || (long)ref1 + ref2 > EntryCount)) throw Bad($"entry {i} has bad children");
                    for (uint c = ref1; c < ref1 + ref2; c++)
                        if (U32(s.Slice(_entries + (int)c * EntryLayout.Size), EntryLayout.Parent) != i) throw Bad($"entry {c} is not a child of {i}");
                    break;
                case EntryType.Regular:
                {
                    long size = I64(r, EntryLayout.FileSize), data = I64(r, EntryLayout.DataOffset), by = I64(r, EntryLayout.CompleteBy);
                    if (size < 0 || data < 0 || data + size > UncompressedSize || by < 0 || by > CompressedSize) throw Bad($"entry {i} has content outside the layer");
                    break;
                }
                case EntryType.Symlink:
                    CheckString(ref1, ref2, i);
                    break;
                case EntryType.Hardlink:
                    if (ref1 >= EntryCount || ref1 == i || (EntryType)s[_entries + (int)ref1 * EntryLayout.Size + EntryLayout.Type] is EntryType.Hardlink or EntryType.Directory or EntryType.Whiteout)
                        throw Bad($"entry {i} is a hardlink to a bad target");
                    continue;
                case EntryType.CharDevice or EntryType.BlockDevice or EntryType.Fifo or EntryType.Whiteout:
                    break;
                default:
                    throw Bad($"entry {i} has unknown type {(byte)type}");
            }
            if (i > 0 && (EntryType)s[_entries + (int)parent * EntryLayout.Size + EntryLayout.Type] != EntryType.Directory) throw Bad($"entry {i}'s parent is not a directory");
            uint attrStart = U32(r, EntryLayout.AttrStart);
            int attrCount = BinaryPrimitives.ReadUInt16LittleEndian(r[EntryLayout.AttrCount..]);
            if ((long)attrStart + attrCount > AttributeCount) throw Bad($"entry {i} has bad attributes");
            for (int a = (int)attrStart; a < attrStart + attrCount; a++)
            {
                var ar = s.Slice(_attributes + a * AttributeLayout.Size, AttributeLayout.Size);
                CheckString(U32(ar, AttributeLayout.KeyOffset), BinaryPrimitives.ReadUInt16LittleEndian(ar[AttributeLayout.KeyLength..]), i);
                CheckString(U32(ar, AttributeLayout.ValueOffset), U32(ar, AttributeLayout.ValueLength), i);
            }
            if (BinaryPrimitives.ReadUInt16LittleEndian(r[EntryLayout.UserName..]) >= OwnerCount || BinaryPrimitives.ReadUInt16LittleEndian(r[EntryLayout.GroupName..]) >= OwnerCount)
                throw Bad($"entry {i} has a bad owner name");
        }
        for (int o = 0; o < OwnerCount; o++)
        {
            var or = s.Slice(_owners + o * OwnerLayout.Size, OwnerLayout.Size);
            CheckString(U32(or, 0), BinaryPrimitives.ReadUInt16LittleEndian(or[4..]), -1);
        }
    }

    private void CheckString(uint offset, uint length, int entry)
    {
        if ((long)offset + length > _stringsLength) throw Bad(entry >= 0 ? $"entry {entry} refers outside the string table" : "a name refers outside the string table");
    }

    private ReadOnlySpan<byte> StringAt(ReadOnlySpan<byte> s, int refField)
    {
        uint off = U32(s, refField);
        int len = BinaryPrimitives.ReadUInt16LittleEndian(s[(refField + 4)..]);
        CheckString(off, (uint)len, -1);
        return s.Slice(_strings + (int)off, len);
    }

    private static int Table(ReadOnlySpan<byte> s, int field, long length, string what)
    {
        uint offset = U32(s, field);
        if (offset < LayerLayout.HeaderSize || offset + length > s.Length) throw Bad($"{what} table lies outside the layer section");
        return (int)offset;
    }

    private static int Count(ReadOnlySpan<byte> s, int field)
    {
        uint v = U32(s, field);
        return v <= int.MaxValue / 128 ? (int)v : throw Bad("a count in the layer header is absurd");
    }

    internal static uint U32(ReadOnlySpan<byte> s, int at) => BinaryPrimitives.ReadUInt32LittleEndian(s[at..]);
    internal static long I64(ReadOnlySpan<byte> s, int at) => BinaryPrimitives.ReadInt64LittleEndian(s[at..]);

    private static IndexFormatException Bad(string what) => new($"index: corrupt layer section: {what}");
}
