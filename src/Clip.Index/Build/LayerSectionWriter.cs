using System.Buffers.Binary;
using System.Text;
using Clip.Gzip;
using Clip.Index.Format;
using Clip.Oci;

namespace Clip.Index.Build;

/// <summary>Identity and shape of an indexed layer.</summary>
public sealed record LayerMetadata(
    Digest Digest,
    string MediaType,
    LayerCompression Compression,
    long CompressedSize,
    long UncompressedSize,
    Digest DiffId,
    long SpanSize,
    int ChunkSize);

/// <summary>Serialises a built layer tree into a layer section (see <see cref="LayerLayout"/>).</summary>
internal static class LayerSectionWriter
{
    public static byte[] Write(BuildNode root, LayerMetadata meta, IReadOnlyList<Checkpoint> checkpoints, ReadOnlySpan<byte> chunkDigests, int dropped)
    {
        // Breadth-first order with each directory's children contiguous and sorted by name bytes:
        // lookups become a binary search over a slice, with no per-entry allocation when loaded.
        var order = new List<BuildNode> { root };
        var firstChild = new List<int> { 0 };
        var childCount = new List<int> { 0 };
        root.Index = 0;
        for (int i = 0; i < order.Count; i++)
        {
            var n = order[i];
            if (n.Children is not { Count: > 0 }) continue;
            firstChild[i] = order.Count;
            childCount[i] = n.Children.Count;
            foreach (var c in n.Children.Values.OrderBy(c => c.Name, StringComparer.Ordinal))
            {
                c.Index = order.Count;
                order.Add(c);
                firstChild.Add(0);
                childCount.Add(0);
            }
        }

        var strings = new StringTable();
        var owners = new List<int>(); // string offsets, interned
        var ownerIds = new Dictionary<string, int>(StringComparer.Ordinal);
        int Owner(string name)
        {
            if (ownerIds.TryGetValue(name, out int id)) return id;
            if (ownerIds.Count >= ushort.MaxValue) return 0;
            id = ownerIds.Count;
            ownerIds[name] = id;
            owners.Add(strings.Add(Encoding.UTF8.GetBytes(name)));
            return id;
        }
        Owner("");
        var digestRef = strings.Add(Encoding.ASCII.GetBytes(meta.Digest.ToString()));
        var diffRef = strings.Add(Encoding.ASCII.GetBytes(meta.DiffId.ToString()));
        var mediaRef = strings.Add(Encoding.UTF8.GetBytes(meta.MediaType));

        var entries = new byte[order.Count * EntryLayout.Size];
        var attributes = new List<(int key, int keyLen, AttributeKind kind, int value, int valueLen)>();
        for (int i = 0; i < order.Count; i++)
        {
            var n = order[i];
            var e = entries.AsSpan(i * EntryLayout.Size, EntryLayout.Size);
            var nameBytes = Encoding.Latin1.GetBytes(n.Name);
            if (nameBytes.Length > ushort.MaxValue) throw new Tar.TarFormatException($"tar: a name component of \"{TarPathDisplay(n)}\" is longer than {ushort.MaxValue} bytes");
            BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.Parent..], (uint)(n.Parent?.Index ?? 0));
            BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.NameOffset..], (uint)strings.Add(nameBytes));
            BinaryPrimitives.WriteUInt16LittleEndian(e[EntryLayout.NameLength..], (ushort)nameBytes.Length);
            e[EntryLayout.Type] = (byte)n.Type;
            e[EntryLayout.Flags] = (byte)n.Flags;
            if (n.Type == EntryType.Hardlink)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.Ref1..], (uint)n.LinkTarget!.Index);
                continue;
            }
            BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.Mode..], n.Mode & 0xFFF);
            BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.Uid..], n.Uid);
            BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.Gid..], n.Gid);
            BinaryPrimitives.WriteInt64LittleEndian(e[EntryLayout.MTimeSeconds..], n.MTimeSeconds);
            BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.MTimeNanoseconds..], (uint)n.MTimeNanoseconds);
            uint nlink = n.Type == EntryType.Directory
                ? 2u + (uint)(n.Children?.Values.Count(c => c.IsDirectory) ?? 0)
                : 1u + (uint)(n.Links?.Count ?? 0);
            BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.LinkCount..], nlink);
            BinaryPrimitives.WriteInt64LittleEndian(e[EntryLayout.FileSize..], n.Size);
            BinaryPrimitives.WriteInt64LittleEndian(e[EntryLayout.DataOffset..], n.DataOffset);
            BinaryPrimitives.WriteInt64LittleEndian(e[EntryLayout.CompleteBy..], n.CompleteBy);
            switch (n.Type)
            {
                case EntryType.Directory:
                    BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.Ref1..], (uint)firstChild[i]);
                    BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.Ref2..], (uint)childCount[i]);
                    break;
                case EntryType.Symlink:
                    BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.Ref1..], (uint)strings.Add(n.SymlinkTarget));
                    BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.Ref2..], (uint)n.SymlinkTarget.Length);
                    break;
                case EntryType.CharDevice or EntryType.BlockDevice:
                    BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.Ref1..], n.DevMajor);
                    BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.Ref2..], n.DevMinor);
                    break;
            }
            int attrStart = attributes.Count;
            foreach (var (kind, list) in new[] { (AttributeKind.Xattr, n.Xattrs), (AttributeKind.PaxRecord, n.PaxRecords) })
            {
                if (list is null) continue;
                foreach (var (k, v) in list)
                {
                    var kb = Encoding.UTF8.GetBytes(k);
                    if (kb.Length > ushort.MaxValue) continue;
                    attributes.Add((strings.Add(kb), kb.Length, kind, strings.Add(v), v.Length));
                }
            }
            int attrCount = attributes.Count - attrStart;
            if (attrCount > ushort.MaxValue) throw new Tar.TarFormatException($"tar: entry \"{TarPathDisplay(n)}\" has more than {ushort.MaxValue} extended attributes");
            BinaryPrimitives.WriteUInt32LittleEndian(e[EntryLayout.AttrStart..], (uint)attrStart);
            BinaryPrimitives.WriteUInt16LittleEndian(e[EntryLayout.AttrCount..], (ushort)attrCount);
            BinaryPrimitives.WriteUInt16LittleEndian(e[EntryLayout.UserName..], (ushort)Owner(n.UserName));
            BinaryPrimitives.WriteUInt16LittleEndian(e[EntryLayout.GroupName..], (ushort)Owner(n.GroupName));
        }

        var windows = new MemoryStream();
        var cpBytes = new byte[checkpoints.Count * CheckpointLayout.Size];
        for (int i = 0; i < checkpoints.Count; i++)
        {
            var cp = checkpoints[i];
            var c = cpBytes.AsSpan(i * CheckpointLayout.Size, CheckpointLayout.Size);
            BinaryPrimitives.WriteInt64LittleEndian(c[CheckpointLayout.In..], cp.In.Value);
            BinaryPrimitives.WriteInt64LittleEndian(c[CheckpointLayout.Out..], cp.Out.Value);
            c[CheckpointLayout.Bits] = (byte)cp.Bits;
            c[CheckpointLayout.Flags] = cp.WindowInStream ? CheckpointLayout.FlagWindowInStream : (byte)0;
            BinaryPrimitives.WriteUInt32LittleEndian(c[CheckpointLayout.WindowLength..], (uint)cp.WindowLength);
            BinaryPrimitives.WriteUInt32LittleEndian(c[CheckpointLayout.WindowOffset..], (uint)windows.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(c[CheckpointLayout.WindowCompressedLength..], (uint)cp.CompressedWindow.Length);
            windows.Write(cp.CompressedWindow.Span);
        }

        var attrBytes = new byte[attributes.Count * AttributeLayout.Size];
        for (int i = 0; i < attributes.Count; i++)
        {
            var a = attrBytes.AsSpan(i * AttributeLayout.Size, AttributeLayout.Size);
            var (key, keyLen, kind, value, valueLen) = attributes[i];
            BinaryPrimitives.WriteUInt32LittleEndian(a[AttributeLayout.KeyOffset..], (uint)key);
            BinaryPrimitives.WriteUInt16LittleEndian(a[AttributeLayout.KeyLength..], (ushort)keyLen);
            a[AttributeLayout.Kind] = (byte)kind;
            BinaryPrimitives.WriteUInt32LittleEndian(a[AttributeLayout.ValueOffset..], (uint)value);
            BinaryPrimitives.WriteUInt32LittleEndian(a[AttributeLayout.ValueLength..], (uint)valueLen);
        }
        var ownerBytes = new byte[owners.Count * OwnerLayout.Size];
        var ownerNames = ownerIds.OrderBy(kv => kv.Value).Select(kv => kv.Key).ToList();
        for (int i = 0; i < owners.Count; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(ownerBytes.AsSpan(i * OwnerLayout.Size), (uint)owners[i]);
            BinaryPrimitives.WriteUInt16LittleEndian(ownerBytes.AsSpan(i * OwnerLayout.Size + 4), (ushort)Encoding.UTF8.GetByteCount(ownerNames[i]));
        }

        // Lay the tables out, 8-byte aligned.
        long pos = LayerLayout.HeaderSize;
        long Place(long length) { long at = pos; pos = Align(pos + length); return at; }
        long entriesAt = Place(entries.Length), attrsAt = Place(attrBytes.Length), ownersAt = Place(ownerBytes.Length),
            cpsAt = Place(cpBytes.Length), chunksAt = Place(chunkDigests.Length), windowsAt = Place(windows.Length),
            stringsAt = Place(strings.Length);
        if (pos > uint.MaxValue) throw new IndexFormatException($"index: layer {meta.Digest} needs a {pos}-byte section, over the 4 GiB limit");
        var section = new byte[pos];
        var h = section.AsSpan(0, LayerLayout.HeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.HeaderSizeField..], LayerLayout.HeaderSize);
        h[LayerLayout.Compression] = (byte)meta.Compression;
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.EntryCount..], (uint)order.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.AttributeCount..], (uint)attributes.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.OwnerCount..], (uint)owners.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.CheckpointCount..], (uint)checkpoints.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.ChunkCount..], (uint)(chunkDigests.Length / 32));
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.ChunkSize..], (uint)meta.ChunkSize);
        BinaryPrimitives.WriteInt64LittleEndian(h[LayerLayout.CompressedSize..], meta.CompressedSize);
        BinaryPrimitives.WriteInt64LittleEndian(h[LayerLayout.UncompressedSize..], meta.UncompressedSize);
        BinaryPrimitives.WriteInt64LittleEndian(h[LayerLayout.SpanSize..], meta.SpanSize);
        WriteRef(h[LayerLayout.DigestRef..], digestRef, meta.Digest.ToString().Length);
        WriteRef(h[LayerLayout.DiffIdRef..], diffRef, meta.DiffId.ToString().Length);
        WriteRef(h[LayerLayout.MediaTypeRef..], mediaRef, Encoding.UTF8.GetByteCount(meta.MediaType));
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.EntriesOffset..], (uint)entriesAt);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.StringsOffset..], (uint)stringsAt);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.StringsLength..], (uint)strings.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.AttributesOffset..], (uint)attrsAt);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.OwnersOffset..], (uint)ownersAt);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.CheckpointsOffset..], (uint)cpsAt);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.WindowsOffset..], (uint)windowsAt);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.WindowsLength..], (uint)windows.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.ChunksOffset..], (uint)chunksAt);
        BinaryPrimitives.WriteUInt32LittleEndian(h[LayerLayout.DroppedEntries..], (uint)dropped);
        entries.CopyTo(section, entriesAt);
        attrBytes.CopyTo(section, attrsAt);
        ownerBytes.CopyTo(section, ownersAt);
        cpBytes.CopyTo(section, cpsAt);
        chunkDigests.CopyTo(section.AsSpan((int)chunksAt));
        windows.GetBuffer().AsSpan(0, (int)windows.Length).CopyTo(section.AsSpan((int)windowsAt));
        strings.CopyTo(section.AsSpan((int)stringsAt));
        return section;
    }

    private static void WriteRef(Span<byte> at, int offset, int length)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(at, (uint)offset);
        BinaryPrimitives.WriteUInt16LittleEndian(at[4..], (ushort)length);
    }

    internal static long Align(long v) => (v + 7) & ~7L;

    private static string TarPathDisplay(BuildNode n) => Tar.TarPath.Display(n.Path);

    /// <summary>An append-only byte table with identical byte strings stored once.</summary>
    private sealed class StringTable
    {
        private readonly MemoryStream _data = new();
        private readonly Dictionary<string, int> _seen = new(StringComparer.Ordinal);

        public int Length => (int)_data.Length;

        public int Add(ReadOnlySpan<byte> bytes)
        {
            string key = Encoding.Latin1.GetString(bytes);
            if (_seen.TryGetValue(key, out int at)) return at;
            at = (int)_data.Length;
            if ((long)at + bytes.Length > int.MaxValue) throw new IndexFormatException("index: string table over 2 GiB");
            _data.Write(bytes);
            _seen[key] = at;
            return at;
        }

        public void CopyTo(Span<byte> destination) => _data.GetBuffer().AsSpan(0, (int)_data.Length).CopyTo(destination);
    }
}
