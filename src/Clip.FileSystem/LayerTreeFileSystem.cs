using Clip.Content;
using Clip.Fuse;
using Clip.Index;
using Clip.Interop;

namespace Clip.FileSystem;

/// <summary>
/// One layer as its own read-only tree, in the conventions kernel overlayfs stacks (what containerd's
/// overlayfs snapshotter would have unpacked): a whiteout is a character device 0/0, an opaque directory
/// carries <c>trusted.overlay.opaque=y</c> besides its own xattrs, hardlinks are one inode with the true
/// link count. Modes (setuid/setgid/sticky included), owners, device numbers, symlink targets and xattrs
/// are those of the tar; mtime is reported for atime and ctime too. File contents are read through a
/// <see cref="LayerReader"/> (lazy, verified, cached).
///
/// A directory that has no tar entry of its own in this layer (implicit: it exists because something below it
/// does) shows the metadata of the same directory in the layers underneath, when they are given, as a
/// containerd unpack would leave it (the applier writes into the merged view, so the directory is copied up
/// from below with its mode, owner, times and xattrs). Without them it shows the index's defaults (0755 root).
/// A tree built with lower layers belongs to that chain (one snapshot); it is not shared with other parents.
///
/// Node ids are stable for an index: node id = entry index + 1 (the layer root, entry 0, is
/// <see cref="NodeId.Root"/>); a hardlink name reports the node id of the entry that holds its inode.
/// Metadata calls read the index in place (spans, binary search): they do not allocate.
/// </summary>
public sealed class LayerTreeFileSystem : IFuseFileSystem
{
    private readonly LayerIndex _layer;
    private readonly LayerReader _reader;
    private readonly Dictionary<int, Entry> _implicitFromBelow = [];

    /// <param name="layer">The layer's index.</param>
    /// <param name="reader">Reads file contents of <paramref name="layer"/>; the caller keeps ownership.</param>
    /// <param name="lowerLayers">The layers under this one in the image, lowest first (for implicit directories), or null.</param>
    public LayerTreeFileSystem(LayerIndex layer, LayerReader reader, IReadOnlyList<LayerIndex>? lowerLayers = null)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(reader);
        if (!ReferenceEquals(reader.Index, layer) && reader.Index.Digest != layer.Digest)
            throw new ArgumentException($"the reader serves layer {reader.Index.Digest}, not {layer.Digest}", nameof(reader));
        _layer = layer;
        _reader = reader;
        if (lowerLayers is { Count: > 0 }) ResolveImplicitDirectories(lowerLayers);
    }

    /// <summary>Implicit directories of this layer that take their metadata from a lower layer's entry.</summary>
    public int InheritedDirectoryCount => _implicitFromBelow.Count;

    public LayerIndex Layer => _layer;

    /// <summary>The node id of entry <paramref name="entryIndex"/> (for a hardlink name, use its target's index).</summary>
    public static NodeId NodeIdOf(int entryIndex) => new((ulong)entryIndex + 1);

    public Errno Lookup(NodeId parent, ReadOnlySpan<byte> name, out NodeEntry entry)
    {
        entry = default;
        if (!TryEntry(parent, out var dir)) return Errno.ENOENT;
        if (dir.Type != EntryType.Directory) return Errno.ENOTDIR;
        if (!_layer.TryLookup(dir.Index, name, out var child)) return Errno.ENOENT;
        var inode = child.Target;
        entry.NodeId = NodeIdOf(inode.Index);
        Fill(inode, out entry.Attributes);
        return 0;
    }

    public Errno GetAttributes(NodeId node, out NodeAttributes attributes)
    {
        if (!TryEntry(node, out var e))
        {
            attributes = default;
            return Errno.ENOENT;
        }
        Fill(e.Target, out attributes);
        return 0;
    }

    public Errno ReadLink(NodeId node, Span<byte> destination, out int length)
    {
        length = 0;
        return TryEntry(node, out var e) ? EntryAttributes.ReadLink(e.Target, destination, out length) : Errno.ENOENT;
    }

    public Errno Open(NodeId node, int flags, out ulong handle)
    {
        handle = 0;
        if (!TryEntry(node, out var e)) return Errno.ENOENT;
        return e.Target.Type switch
        {
            EntryType.Regular => 0,
            EntryType.Directory => Errno.EISDIR,
            _ => Errno.EINVAL, // devices and fifos are opened by the kernel itself, never through FUSE OPEN
        };
    }

    public ValueTask<int> ReadAsync(NodeId node, ulong handle, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (!TryEntry(node, out var e)) throw new FuseException(Errno.EBADF);
        var inode = e.Target;
        if (inode.Type != EntryType.Regular) throw new FuseException(inode.Type == EntryType.Directory ? Errno.EISDIR : Errno.EINVAL);
        return _reader.ReadAsync(inode, offset, buffer, cancellationToken);
    }

    public Errno OpenDirectory(NodeId node, out ulong handle)
    {
        handle = 0;
        if (!TryEntry(node, out var e)) return Errno.ENOENT;
        return e.Type == EntryType.Directory ? 0 : Errno.ENOTDIR;
    }

    /// <summary>Cookies: 0 is ".", 1 is "..", 2 + i is child i (children are sorted in the index, so cookies are stable).</summary>
    public Errno ReadDirectory(NodeId node, ulong handle, ulong offset, ref DirectoryWriter writer)
    {
        if (!TryEntry(node, out var dir)) return Errno.ENOENT;
        if (dir.Type != EntryType.Directory) return Errno.ENOTDIR;
        ulong end = (ulong)dir.ChildCount + 2;
        for (ulong p = offset; p < end; p++)
        {
            NodeEntry entry = default;
            bool added;
            if (p < 2)
            {
                var self = p == 0 ? dir : dir.Parent; // the root's parent is the root
                entry.NodeId = NodeIdOf(self.Index);
                Fill(self, out entry.Attributes);
                added = writer.TryAdd(p == 0 ? "."u8 : ".."u8, entry, p + 1);
            }
            else
            {
                var child = _layer[dir.FirstChild + (int)(p - 2)];
                var inode = child.Target;
                entry.NodeId = NodeIdOf(inode.Index);
                Fill(inode, out entry.Attributes);
                added = writer.TryAdd(child.Name, entry, p + 1);
            }
            if (!added) break;
        }
        return 0;
    }

    public Errno GetExtendedAttribute(NodeId node, ReadOnlySpan<byte> name, Span<byte> destination, out int length)
    {
        length = 0;
        if (!TryEntry(node, out var e)) return Errno.ENOENT;
        var inode = e.Target;
        return EntryAttributes.GetXattr(Metadata(inode), inode.IsOpaque, name, destination, out length);
    }

    public Errno ListExtendedAttributes(NodeId node, Span<byte> destination, out int length)
    {
        length = 0;
        if (!TryEntry(node, out var e)) return Errno.ENOENT;
        var inode = e.Target;
        return EntryAttributes.ListXattrs(Metadata(inode), inode.IsOpaque, destination, out length);
    }

    /// <summary>statfs: the layer's uncompressed size in 4 KiB blocks and its entries as files; nothing free (read-only).</summary>
    public Errno GetStatistics(NodeId node, out FileSystemStatistics statistics)
    {
        statistics = new FileSystemStatistics
        {
            BlockSize = 4096,
            FragmentSize = 4096,
            Blocks = (ulong)((_layer.UncompressedSize + 4095) / 4096),
            Files = (ulong)_layer.EntryCount,
            MaxNameLength = 255,
        };
        return 0;
    }

    private bool TryEntry(NodeId node, out Entry entry)
    {
        ulong index = node.Value - 1;
        if (node.Value == 0 || index >= (ulong)_layer.EntryCount)
        {
            entry = default;
            return false;
        }
        entry = _layer[(int)index];
        return true;
    }

    /// <summary>The entry whose metadata a node shows: itself, or for an implicit directory the one below it.</summary>
    private Entry Metadata(in Entry inode) =>
        (inode.Flags & EntryFlags.Implicit) != 0 && _implicitFromBelow.Count > 0 && _implicitFromBelow.TryGetValue(inode.Index, out var lower) ? lower : inode;

    private void Fill(in Entry inode, out NodeAttributes attributes) =>
        EntryAttributes.Fill(Metadata(inode), inode.LinkCount, out attributes);

    private void ResolveImplicitDirectories(IReadOnlyList<LayerIndex> lowers)
    {
        var path = new List<int>();
        for (int i = 0; i < _layer.EntryCount; i++)
        {
            var e = _layer[i];
            if (e.Type != EntryType.Directory || (e.Flags & EntryFlags.Implicit) == 0) continue;
            path.Clear();
            for (var p = e; !p.IsRoot; p = p.Parent) path.Add(p.Index);
            path.Reverse();
            if (FindBelow(lowers, path) is { } lower) _implicitFromBelow[i] = lower;
        }
    }

    /// <summary>
    /// The explicit directory entry a full unpack of <paramref name="lowers"/> shows at the path of this layer's
    /// entries <paramref name="path"/>, or null (absent, deleted, hidden by an opaque ancestor, not a directory,
    /// or only implicit there too). Mirrors <see cref="MergedTree"/>: the topmost explicit entry wins.
    /// </summary>
    private Entry? FindBelow(IReadOnlyList<LayerIndex> lowers, List<int> path)
    {
        for (int k = lowers.Count - 1; k >= 0; k--)
        {
            var layer = lowers[k];
            var at = layer.Root;
            bool hidesBelow = false, found = true;
            foreach (int component in path)
            {
                if (at.IsOpaque) hidesBelow = true; // an opaque ancestor in layer k hides this path in the layers under k
                if (!layer.TryLookup(at.Index, _layer[component].Name, out var child))
                {
                    found = false;
                    break;
                }
                if (child.Type != EntryType.Directory) return null; // whited out, or replaced by a non-directory
                at = child;
            }
            if (found && (at.Flags & EntryFlags.Implicit) == 0) return at;
            if (hidesBelow) return null;
        }
        return null;
    }
}
