using Clip.Index.Tar;

namespace Clip.Index;

/// <summary>A node of the merged view: the entry (in one layer) that a path shows after stacking.</summary>
public sealed class MergedNode
{
    internal MergedNode(string name, MergedNode? parent, int layer, Entry entry)
    {
        Name = name;
        Parent = parent;
        Layer = layer;
        Entry = entry;
    }

    /// <summary>The name as a Latin1 string (one char per byte of the real name).</summary>
    public string Name { get; }
    public MergedNode? Parent { get; }
    /// <summary>Position in the image's layer list (0 = lowest) of the layer the node comes from.</summary>
    public int Layer { get; internal set; }
    /// <summary>The layer entry; for a hardlink, the entry of the name (use <see cref="Entry.Target"/> for the inode).</summary>
    public Entry Entry { get; internal set; }
    internal Dictionary<string, MergedNode>? ChildMap;
    /// <summary>Names in the merged view that share this node's inode.</summary>
    public uint LinkCount { get; internal set; } = 1;

    public bool IsDirectory => Entry.Type == EntryType.Directory;

    /// <summary>Children in name (byte) order.</summary>
    public IEnumerable<MergedNode> Children =>
        ChildMap is null ? [] : ChildMap.Values.OrderBy(c => c.Name, StringComparer.Ordinal);

    public MergedNode? Child(string latin1Name) => ChildMap is not null && ChildMap.TryGetValue(latin1Name, out var c) ? c : null;

    /// <summary>The display path ("a/b/c", "" for the root).</summary>
    public string Path
    {
        get
        {
            var parts = new List<string>();
            for (var n = this; n.Parent is not null; n = n.Parent) parts.Add(TarPath.Display(n.Name));
            parts.Reverse();
            return string.Join('/', parts);
        }
    }

    /// <summary>The identity of the inode: (layer, entry holding it).</summary>
    public (int Layer, int Entry) InodeKey => (Layer, Entry.Target.Index);
}

/// <summary>
/// The image as a full unpack would produce it (what `docker export` shows): layers applied
/// lowest first; a whiteout removes the name below, an opaque directory hides everything below
/// it from lower layers, a later entry replaces an earlier one, a directory over a directory
/// merges. Computed on demand (inspection, the single-mount mode); containers get kernel
/// overlayfs over the per-layer trees instead.
/// </summary>
public sealed class MergedTree
{
    private MergedTree(MergedNode root) => Root = root;

    public MergedNode Root { get; }

    public static MergedTree Build(IReadOnlyList<LayerIndex> layersLowestFirst)
    {
        if (layersLowestFirst.Count == 0) throw new ArgumentException("an image has at least one layer", nameof(layersLowestFirst));
        var root = new MergedNode("", null, 0, layersLowestFirst[0].Root) { ChildMap = [] };
        for (int li = 0; li < layersLowestFirst.Count; li++)
        {
            var layerRoot = layersLowestFirst[li].Root;
            if (li == 0 || (layerRoot.Flags & EntryFlags.Implicit) == 0)
            {
                root.Layer = li;
                root.Entry = layerRoot;
            }
            Apply(root, layerRoot, li);
        }
        var tree = new MergedTree(root);
        tree.CountLinks();
        return tree;
    }

    private static void Apply(MergedNode dir, Entry layerDir, int layer)
    {
        if (layerDir.IsOpaque) dir.ChildMap!.Clear();
        foreach (var child in layerDir.Children())
        {
            string name = TarPath.Latin1(child.Name);
            dir.ChildMap!.TryGetValue(name, out var existing);
            switch (child.Type)
            {
                case EntryType.Whiteout:
                    dir.ChildMap.Remove(name);
                    break;
                case EntryType.Directory:
                    if (existing is { IsDirectory: true })
                    {
                        // An implicit directory (no tar entry of its own) leaves the lower one's metadata, as an unpack would.
                        if ((child.Flags & EntryFlags.Implicit) == 0)
                        {
                            existing.Layer = layer;
                            existing.Entry = child;
                        }
                    }
                    else
                    {
                        existing = new MergedNode(name, dir, layer, child) { ChildMap = [] };
                        dir.ChildMap[name] = existing;
                    }
                    Apply(existing, child, layer);
                    break;
                default:
                    dir.ChildMap[name] = new MergedNode(name, dir, layer, child);
                    break;
            }
        }
    }

    private void CountLinks()
    {
        var groups = new Dictionary<(int, int), List<MergedNode>>();
        foreach (var n in Walk())
        {
            if (n.IsDirectory) continue;
            var t = n.Entry.Target;
            if (t.LinkCount <= 1 && n.Entry.Type != EntryType.Hardlink) continue;
            if (!groups.TryGetValue(n.InodeKey, out var list)) groups[n.InodeKey] = list = [];
            list.Add(n);
        }
        foreach (var list in groups.Values)
            foreach (var n in list) n.LinkCount = (uint)list.Count;
        foreach (var n in Walk())
            if (n.IsDirectory) n.LinkCount = 2u + (uint)(n.ChildMap?.Values.Count(c => c.IsDirectory) ?? 0);
    }

    /// <summary>Every node, parents before children, children in name order.</summary>
    public IEnumerable<MergedNode> Walk()
    {
        var stack = new Stack<MergedNode>();
        stack.Push(Root);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            yield return n;
            if (n.ChildMap is null) continue;
            foreach (var c in n.ChildMap.Values.OrderByDescending(c => c.Name, StringComparer.Ordinal)) stack.Push(c);
        }
    }

    /// <summary>The node at a slash-separated UTF-8 path, or null.</summary>
    public MergedNode? Find(string path)
    {
        var n = Root;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            n = n.Child(TarPath.Latin1(System.Text.Encoding.UTF8.GetBytes(part)));
            if (n is null) return null;
        }
        return n;
    }
}
