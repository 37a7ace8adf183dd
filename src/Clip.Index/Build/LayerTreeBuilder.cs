using Clip.Index.Tar;

namespace Clip.Index.Build;

/// <summary>
/// Turns a layer's tar entries into the layer's tree, the way an unpack into an empty directory
/// would: later entries replace earlier ones, directories are created for names below them,
/// hardlinks become one inode with several names. Whiteouts and opaque markers are kept as
/// entries/flags of the layer (overlayfs conventions), not applied.
/// </summary>
internal sealed class LayerTreeBuilder : ITarConsumer
{
    private readonly Action<TarRecord>? _onContentStart;

    public LayerTreeBuilder(Action<TarRecord>? onContentStart = null)
    {
        _onContentStart = onContentStart;
        Root = new BuildNode { Name = "", Type = EntryType.Directory, Mode = 0b111_101_101, Children = [], Flags = EntryFlags.Implicit };
    }

    public BuildNode Root { get; }

    /// <summary>Entries that could not be placed (a hardlink to a name not in this layer); counted, not served.</summary>
    public int Dropped { get; private set; }

    public List<string> Warnings { get; } = [];

    public void OnContentStart(TarRecord record) => _onContentStart?.Invoke(record);

    public void OnEntry(TarRecord r)
    {
        var comps = TarPath.Components(r.Name);
        if (comps.Count == 0)
        {
            // "./" or "/": the layer root's own metadata.
            if (r.TypeFlag == (byte)'5')
            {
                Apply(Root, r);
                Root.Flags &= ~EntryFlags.Implicit;
            }
            return;
        }
        string baseName = comps[^1];
        var parent = EnsureDirectory(comps, comps.Count - 1, r);
        if (baseName.StartsWith(".wh.", StringComparison.Ordinal))
        {
            if (baseName == ".wh..wh..opq")
            {
                parent.Flags |= EntryFlags.Opaque;
                return;
            }
            if (baseName.StartsWith(".wh..wh.", StringComparison.Ordinal)) return; // aufs metadata (.wh..wh.plnk etc.), skipped as containerd does
            string hidden = baseName[4..];
            if (hidden is "" or "." or "..") return;
            var wh = new BuildNode { Name = hidden, Type = EntryType.Whiteout };
            Apply(wh, r);
            wh.Mode = 0;
            Put(parent, wh);
            return;
        }

        parent.Children!.TryGetValue(baseName, out var existing);
        switch (r.TypeFlag)
        {
            case (byte)'5':
                if (existing is { IsDirectory: true })
                {
                    Apply(existing, r);
                    existing.Flags &= ~EntryFlags.Implicit;
                    return;
                }
                var dir = new BuildNode { Name = baseName, Type = EntryType.Directory, Children = [] };
                Apply(dir, r);
                Put(parent, dir);
                return;
            case (byte)'1':
            {
                var target = Find(TarPath.Components(r.LinkName));
                if (target is null || target.IsDirectory || target.Type == EntryType.Whiteout)
                {
                    Dropped++;
                    Warnings.Add($"hardlink \"{r.DisplayName}\" points to \"{System.Text.Encoding.UTF8.GetString(r.LinkName)}\", which is not a file of this layer; skipped");
                    return;
                }
                var primary = target.LinkTarget ?? target;
                if (existing == primary || existing?.LinkTarget == primary) return; // linking a name to itself
                var link = new BuildNode { Name = baseName, Type = EntryType.Hardlink, LinkTarget = primary };
                Put(parent, link);
                (primary.Links ??= []).Add(link);
                return;
            }
        }

        var node = new BuildNode { Name = baseName };
        Apply(node, r);
        switch (r.TypeFlag)
        {
            case (byte)'0' or 0 or (byte)'7':
                node.Type = EntryType.Regular;
                node.Size = r.Size;
                node.DataOffset = r.DataOffset;
                node.CompleteBy = r.CompleteBy;
                break;
            case (byte)'2':
                node.Type = EntryType.Symlink;
                node.SymlinkTarget = r.LinkName;
                node.Size = r.LinkName.Length;
                break;
            case (byte)'3':
                node.Type = EntryType.CharDevice;
                node.DevMajor = r.DevMajor;
                node.DevMinor = r.DevMinor;
                break;
            case (byte)'4':
                node.Type = EntryType.BlockDevice;
                node.DevMajor = r.DevMajor;
                node.DevMinor = r.DevMinor;
                break;
            case (byte)'6':
                node.Type = EntryType.Fifo;
                break;
            default:
                throw new TarFormatException($"tar: entry \"{r.DisplayName}\" has unsupported type '{(char)r.TypeFlag}'");
        }
        Put(parent, node);
    }

    private static void Apply(BuildNode n, TarRecord r)
    {
        n.Mode = r.Mode;
        n.Uid = r.Uid;
        n.Gid = r.Gid;
        n.UserName = r.UserName;
        n.GroupName = r.GroupName;
        n.MTimeSeconds = r.MTimeSeconds;
        n.MTimeNanoseconds = r.MTimeNanoseconds;
        n.Xattrs = r.Xattrs.Count > 0 ? [.. r.Xattrs] : null;
        n.PaxRecords = r.PaxRecords.Count > 0 ? [.. r.PaxRecords] : null;
    }

    private BuildNode EnsureDirectory(List<string> comps, int count, TarRecord r)
    {
        var dir = Root;
        for (int i = 0; i < count; i++)
        {
            if (!dir.Children!.TryGetValue(comps[i], out var child))
            {
                child = new BuildNode
                {
                    Name = comps[i], Type = EntryType.Directory, Mode = 0b111_101_101, Children = [], Flags = EntryFlags.Implicit,
                    UserName = "root", GroupName = "root",
                };
                child.Parent = dir;
                dir.Children[comps[i]] = child;
            }
            else if (!child.IsDirectory)
            {
                throw new TarFormatException(
                    $"tar: entry \"{r.DisplayName}\" is below \"{TarPath.Display(string.Join('/', comps.Take(i + 1)))}\", which is a {child.Type.ToString().ToLowerInvariant()}, not a directory");
            }
            dir = child;
        }
        return dir;
    }

    private BuildNode? Find(List<string> comps)
    {
        var n = Root;
        foreach (var c in comps)
        {
            if (n.Children is null || !n.Children.TryGetValue(c, out var child)) return null;
            n = child;
        }
        return comps.Count == 0 ? null : n;
    }

    private void Put(BuildNode parent, BuildNode node)
    {
        if (parent.Children!.TryGetValue(node.Name, out var old)) Detach(old);
        node.Parent = parent;
        parent.Children[node.Name] = node;
    }

    /// <summary>Removes a node (and its subtree) from the tree, keeping hardlink groups whole.</summary>
    private void Detach(BuildNode old)
    {
        old.Parent!.Children!.Remove(old.Name);
        old.Detached = true;
        if (old.Children is not null)
            foreach (var child in old.Children.Values.ToList()) Detach(child);
        if (old.LinkTarget is { } primary)
        {
            primary.Links!.Remove(old);
        }
        else if (old.Links is { Count: > 0 } links)
        {
            // The inode lives on under its other names: the first remaining one takes it over.
            var heir = links[0];
            links.RemoveAt(0);
            heir.CopyInodeFrom(old);
            heir.Links = links.Count > 0 ? links : null;
            foreach (var l in links) l.LinkTarget = heir;
        }
    }
}
