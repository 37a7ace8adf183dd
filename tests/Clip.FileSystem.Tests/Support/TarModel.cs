using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;

namespace Clip.FileSystem.Tests.Support;

/// <summary>
/// The ground truth of one layer's own tree, read from its tar with System.Formats.Tar (independent of
/// clip's tar reader) and put in the conventions of containerd's overlayfs unpack: <c>.wh.NAME</c> becomes
/// a char device 0/0 NAME, <c>.wh..wh..opq</c> marks its directory with <c>trusted.overlay.opaque=y</c>,
/// directories without an entry of their own appear as 0755 root:root.
/// </summary>
public static class TarModel
{
    public static SortedDictionary<string, NodeInfo> Layer(byte[] tar)
    {
        var nodes = new SortedDictionary<string, NodeInfo>(StringComparer.Ordinal);
        var xattrs = new Dictionary<string, SortedDictionary<string, string>>();
        var inodes = new Dictionary<string, ulong>();
        ulong nextInode = 1;
        var links = new Dictionary<ulong, uint>();

        void EnsureParents(string path)
        {
            int slash = path.LastIndexOf('/');
            if (slash <= 0) return;
            string parent = path[..slash];
            if (nodes.ContainsKey(parent)) return;
            EnsureParents(parent);
            nodes[parent] = new NodeInfo('d', 0x1ED, 0, 0, 0, null, 0, 0, 0, "", null);
        }

        using var reader = new TarReader(new MemoryStream(tar));
        while (reader.GetNextEntry(copyData: true) is { } e)
        {
            string path = string.Join('/', e.Name.Split('/').Where(p => p is not ("" or ".")));
            if (path.Length == 0) continue;
            EnsureParents(path);
            string name = path[(path.LastIndexOf('/') + 1)..];
            string dir = path.Contains('/') ? path[..path.LastIndexOf('/')] : "";
            if (name == ".wh..wh..opq")
            {
                if (dir.Length > 0) Xattrs(dir)["trusted.overlay.opaque"] = Convert.ToHexStringLower("y"u8);
                continue;
            }
            if (name.StartsWith(".wh.", StringComparison.Ordinal))
            {
                string hidden = (dir.Length > 0 ? dir + "/" : "") + name[4..];
                nodes[hidden] = new NodeInfo('c', 0, (uint)e.Uid, (uint)e.Gid, 0, null, 0, 0, e.ModificationTime.ToUnixTimeSeconds(), "", null) { LinkCount = 1 };
                inodes[hidden] = nextInode++;
                continue;
            }
            if (e.EntryType == TarEntryType.HardLink)
            {
                string target = string.Join('/', e.LinkName.Split('/').Where(p => p is not ("" or ".")));
                nodes[path] = nodes[target];
                inodes[path] = inodes[target];
                links[inodes[target]]++;
                continue;
            }
            var x = new Dictionary<string, string>(StringComparer.Ordinal);
            if (e is PaxTarEntry pax)
                foreach (var (k, v) in pax.ExtendedAttributes)
                    if (k.StartsWith("SCHILY.xattr.", StringComparison.Ordinal)) x[k["SCHILY.xattr.".Length..]] = Convert.ToHexStringLower(Encoding.UTF8.GetBytes(v));
            foreach (var (k, v) in x) Xattrs(path)[k] = v;
            uint mode = (uint)e.Mode & 0xFFF;
            long mtime = e.ModificationTime.ToUnixTimeSeconds();
            var posix = e as PosixTarEntry;
            NodeInfo info = e.EntryType switch
            {
                TarEntryType.Directory => new NodeInfo('d', mode, (uint)e.Uid, (uint)e.Gid, 0, null, 0, 0, mtime, "", null),
                TarEntryType.SymbolicLink => new NodeInfo('l', 0x1FF, (uint)e.Uid, (uint)e.Gid, Encoding.UTF8.GetByteCount(e.LinkName), e.LinkName, 0, 0, mtime, "", null),
                TarEntryType.CharacterDevice => new NodeInfo('c', mode, (uint)e.Uid, (uint)e.Gid, 0, null, (uint)posix!.DeviceMajor, (uint)posix.DeviceMinor, mtime, "", null),
                TarEntryType.BlockDevice => new NodeInfo('b', mode, (uint)e.Uid, (uint)e.Gid, 0, null, (uint)posix!.DeviceMajor, (uint)posix.DeviceMinor, mtime, "", null),
                TarEntryType.Fifo => new NodeInfo('p', mode, (uint)e.Uid, (uint)e.Gid, 0, null, 0, 0, mtime, "", null),
                _ => RegularFile(e, mode, mtime),
            };
            if (info.Type == 'd' && nodes.ContainsKey(path) && nodes[path].Type == 'd')
            {
                nodes[path] = info; // a later entry for the same directory sets its metadata
                continue;
            }
            nodes[path] = info;
            inodes[path] = nextInode;
            links[nextInode++] = 1;
        }

        var result = new SortedDictionary<string, NodeInfo>(StringComparer.Ordinal);
        foreach (var (path, n) in nodes)
        {
            string x = xattrs.TryGetValue(path, out var xs) ? string.Join(",", xs.Select(kv => kv.Key + "=" + kv.Value)) : "";
            var withX = n with { Xattrs = x };
            if (n.Type != 'd' && inodes.TryGetValue(path, out var ino))
                withX = withX with { Inode = ino, LinkCount = links.GetValueOrDefault(ino, 1u) };
            result[path] = withX;
        }
        return result;

        SortedDictionary<string, string> Xattrs(string path)
        {
            if (!xattrs.TryGetValue(path, out var d)) xattrs[path] = d = new SortedDictionary<string, string>(StringComparer.Ordinal);
            return d;
        }
    }

    private static NodeInfo RegularFile(TarEntry e, uint mode, long mtime)
    {
        var data = e.DataStream is null ? [] : ((MemoryStream)e.DataStream).ToArray();
        return new NodeInfo('f', mode, (uint)e.Uid, (uint)e.Gid, data.Length, null, 0, 0, mtime, "", Convert.ToHexStringLower(SHA256.HashData(data)));
    }
}
