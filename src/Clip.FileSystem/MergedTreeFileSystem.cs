using Clip.Content;
using Clip.Fuse;
using Clip.Index;
using Clip.Interop;

namespace Clip.FileSystem;

/// <summary>
/// An image's merged view (what a full unpack gives: <see cref="MergedTree"/>) as one read-only tree,
/// reading each file through the <see cref="LayerReader"/> of the layer it comes from. Whiteouts and
/// opaque markers are already applied, so none show.
///
/// Node ids are derived from the index, so the same image gives the same ids on every mount:
/// the root is 1; any other node is <c>(layer &lt;&lt; 32) | (entry + 1)</c>, where layer is the position
/// of the layer in the image (0 = lowest) and entry is the index, in that layer, of the entry holding the
/// node's inode (a hardlink's target), so all names of a hardlink group share one node id. A layer root
/// (entry 0) only ever stands for the merged root, which is why 1 is free of collisions.
///
/// The tree is flattened at construction into arrays (children sorted by name bytes, looked up by
/// binary search over the index's name spans); metadata calls do not allocate.
/// </summary>
public sealed class MergedTreeFileSystem : IFuseFileSystem
{
    private struct Node
    {
        public int Layer;
        public int Entry;       // the entry that names the node (for a hardlink: the link)
        public int Inode;       // the entry holding the inode
        public uint LinkCount;
        public int Parent;
        public int FirstChild;  // into _children
        public int ChildCount;
        public ulong Id;
    }

    private readonly LayerIndex[] _layers;
    private readonly LayerReader[] _readers;
    private readonly Node[] _nodes;
    private readonly int[] _children;
    private readonly Dictionary<ulong, int> _byId;

    /// <param name="layers">The image's layers, lowest first.</param>
    /// <param name="readers">One reader per layer, in the same order; the caller keeps ownership.</param>
    /// <param name="tree">The merged tree of <paramref name="layers"/>, when already built.</param>
    public MergedTreeFileSystem(IReadOnlyList<LayerIndex> layers, IReadOnlyList<LayerReader> readers, MergedTree? tree = null)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(readers);
        if (layers.Count != readers.Count) throw new ArgumentException($"{layers.Count} layers but {readers.Count} readers", nameof(readers));
        for (int i = 0; i < layers.Count; i++)
            if (readers[i].Index.Digest != layers[i].Digest)
                throw new ArgumentException($"reader {i} serves layer {readers[i].Index.Digest}, not {layers[i].Digest}", nameof(readers));
        _layers = [.. layers];
        _readers = [.. readers];
        tree ??= MergedTree.Build(layers);

        // Breadth-first: a directory's children get consecutive node numbers, in name order.
        var nodes = new List<Node>();
        var children = new List<int>();
        var queue = new Queue<(MergedNode Node, int Index)>();
        nodes.Add(Make(tree.Root, parent: 0));
        queue.Enqueue((tree.Root, 0));
        while (queue.Count > 0)
        {
            var (merged, index) = queue.Dequeue();
            if (!merged.IsDirectory) continue;
            int first = children.Count;
            foreach (var child in merged.Children)
            {
                int childIndex = nodes.Count;
                nodes.Add(Make(child, index));
                children.Add(childIndex);
                queue.Enqueue((child, childIndex));
            }
            var n = nodes[index];
            n.FirstChild = first;
            n.ChildCount = children.Count - first;
            nodes[index] = n;
        }
        _nodes = [.. nodes];
        _children = [.. children];
        _byId = new Dictionary<ulong, int>(_nodes.Length);
        for (int i = 0; i < _nodes.Length; i++) _byId.TryAdd(_nodes[i].Id, i);
    }

    /// <summary>Names in the merged view (the root included).</summary>
    public int NodeCount => _nodes.Length;

    /// <summary>The node id of the inode held by <paramref name="entryIndex"/> of layer <paramref name="layer"/> (see the class remarks).</summary>
    public static NodeId NodeIdOf(int layer, int entryIndex) =>
        entryIndex == 0 ? NodeId.Root : new NodeId(((ulong)(uint)layer << 32) | ((ulong)(uint)entryIndex + 1));

    private static Node Make(MergedNode merged, int parent)
    {
        var (layer, inode) = merged.InodeKey;
        return new Node
        {
            Layer = layer,
            Entry = merged.Entry.Index,
            Inode = inode,
            LinkCount = merged.LinkCount,
            Parent = parent,
            Id = merged.Parent is null ? NodeId.Root.Value : NodeIdOf(layer, inode).Value,
        };
    }

    public Errno Lookup(NodeId parent, ReadOnlySpan<byte> name, out NodeEntry entry)
    {
        entry = default;
        if (!_byId.TryGetValue(parent.Value, out int p)) return Errno.ENOENT;
        ref readonly var dir = ref _nodes[p];
        if (_layers[dir.Layer][dir.Inode].Type != EntryType.Directory) return Errno.ENOTDIR;
        int lo = dir.FirstChild, hi = dir.FirstChild + dir.ChildCount - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            ref readonly var c = ref _nodes[_children[mid]];
            int cmp = _layers[c.Layer][c.Entry].Name.SequenceCompareTo(name);
            if (cmp == 0)
            {
                entry.NodeId = new NodeId(c.Id);
                Fill(c, out entry.Attributes);
                return 0;
            }
            if (cmp < 0) lo = mid + 1;
            else hi = mid - 1;
        }
        return Errno.ENOENT;
    }

    public Errno GetAttributes(NodeId node, out NodeAttributes attributes)
    {
        if (!_byId.TryGetValue(node.Value, out int i))
        {
            attributes = default;
            return Errno.ENOENT;
        }
        Fill(_nodes[i], out attributes);
        return 0;
    }

    public Errno ReadLink(NodeId node, Span<byte> destination, out int length)
    {
        length = 0;
        return TryInode(node, out var e) ? EntryAttributes.ReadLink(e, destination, out length) : Errno.ENOENT;
    }

    public Errno Open(NodeId node, int flags, out ulong handle)
    {
        handle = 0;
        if (!TryInode(node, out var e)) return Errno.ENOENT;
        return e.Type switch
        {
            EntryType.Regular => 0,
            EntryType.Directory => Errno.EISDIR,
            _ => Errno.EINVAL,
        };
    }

    public ValueTask<int> ReadAsync(NodeId node, ulong handle, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (!_byId.TryGetValue(node.Value, out int i)) throw new FuseException(Errno.EBADF);
        ref readonly var n = ref _nodes[i];
        var inode = _layers[n.Layer][n.Inode];
        if (inode.Type != EntryType.Regular) throw new FuseException(inode.Type == EntryType.Directory ? Errno.EISDIR : Errno.EINVAL);
        return _readers[n.Layer].ReadAsync(inode, offset, buffer, cancellationToken);
    }

    public Errno OpenDirectory(NodeId node, out ulong handle)
    {
        handle = 0;
        if (!TryInode(node, out var e)) return Errno.ENOENT;
        return e.Type == EntryType.Directory ? 0 : Errno.ENOTDIR;
    }

    /// <summary>Cookies: 0 is ".", 1 is "..", 2 + i is child i in name order.</summary>
    public Errno ReadDirectory(NodeId node, ulong handle, ulong offset, ref DirectoryWriter writer)
    {
        if (!_byId.TryGetValue(node.Value, out int d)) return Errno.ENOENT;
        ref readonly var dir = ref _nodes[d];
        if (_layers[dir.Layer][dir.Inode].Type != EntryType.Directory) return Errno.ENOTDIR;
        ulong end = (ulong)dir.ChildCount + 2;
        for (ulong p = offset; p < end; p++)
        {
            NodeEntry entry = default;
            bool added;
            if (p < 2)
            {
                ref readonly var self = ref _nodes[p == 0 ? d : dir.Parent];
                entry.NodeId = new NodeId(self.Id);
                Fill(self, out entry.Attributes);
                added = writer.TryAdd(p == 0 ? "."u8 : ".."u8, entry, p + 1);
            }
            else
            {
                ref readonly var c = ref _nodes[_children[dir.FirstChild + (int)(p - 2)]];
                entry.NodeId = new NodeId(c.Id);
                Fill(c, out entry.Attributes);
                added = writer.TryAdd(_layers[c.Layer][c.Entry].Name, entry, p + 1);
            }
            if (!added) break;
        }
        return 0;
    }

    public Errno GetExtendedAttribute(NodeId node, ReadOnlySpan<byte> name, Span<byte> destination, out int length)
    {
        length = 0;
        return TryInode(node, out var e) ? EntryAttributes.GetXattr(e, opaque: false, name, destination, out length) : Errno.ENOENT;
    }

    public Errno ListExtendedAttributes(NodeId node, Span<byte> destination, out int length)
    {
        length = 0;
        return TryInode(node, out var e) ? EntryAttributes.ListXattrs(e, opaque: false, destination, out length) : Errno.ENOENT;
    }

    /// <summary>statfs: the image's uncompressed size in 4 KiB blocks and its names as files; nothing free (read-only).</summary>
    public Errno GetStatistics(NodeId node, out FileSystemStatistics statistics)
    {
        long bytes = 0;
        for (int i = 0; i < _layers.Length; i++) bytes += _layers[i].UncompressedSize;
        statistics = new FileSystemStatistics
        {
            BlockSize = 4096,
            FragmentSize = 4096,
            Blocks = (ulong)((bytes + 4095) / 4096),
            Files = (ulong)_nodes.Length,
            MaxNameLength = 255,
        };
        return 0;
    }

    private bool TryInode(NodeId node, out Entry inode)
    {
        if (!_byId.TryGetValue(node.Value, out int i))
        {
            inode = default;
            return false;
        }
        ref readonly var n = ref _nodes[i];
        inode = _layers[n.Layer][n.Inode];
        return true;
    }

    private void Fill(in Node n, out NodeAttributes attributes) =>
        EntryAttributes.Fill(_layers[n.Layer][n.Inode], n.LinkCount, out attributes);
}
