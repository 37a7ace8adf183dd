using System.Security.Cryptography;
using System.Text;
using Clip.Interop;

namespace Clip.FileSystem.Tests.Support;

/// <summary>What one path of a tree is, as stat(2), readlink(2), listxattr(2) and a full read show it.</summary>
public sealed record NodeInfo(char Type, uint Mode, uint Uid, uint Gid, long Size, string? LinkTarget, uint DevMajor, uint DevMinor,
    long MTime, string Xattrs, string? Sha256)
{
    /// <summary>st_nlink (regular files: the hardlink count; compared separately for directories).</summary>
    public uint LinkCount { get; init; }
    public ulong Inode { get; init; }
    /// <summary>st_dev: overlayfs over several filesystems gives each lower layer's files its own device number.</summary>
    public ulong Device { get; init; }

    public override string ToString() =>
        $"{Type} {Convert.ToString(Mode, 8)} {Uid}:{Gid} size={Size} link={LinkTarget} dev={DevMajor}/{DevMinor} mtime={MTime} nlink={LinkCount} xattrs=[{Xattrs}] sha={Sha256?[..12]}";
}

/// <summary>A whole tree read through the kernel (every path, type, mode, owner, size, target, device, xattrs, content digest, inode).</summary>
public static class TreeSnapshot
{
    public static SortedDictionary<string, NodeInfo> Take(string root, Func<string, bool>? xattrFilter = null)
    {
        var result = new SortedDictionary<string, NodeInfo>(StringComparer.Ordinal);
        Walk(root, "", result, xattrFilter ?? (_ => true));
        return result;
    }

    private static void Walk(string root, string rel, SortedDictionary<string, NodeInfo> into, Func<string, bool> xattrFilter)
    {
        string dir = rel.Length == 0 ? root : Path.Combine(root, rel);
        foreach (var full in Directory.EnumerateFileSystemEntries(dir, "*", new EnumerationOptions { AttributesToSkip = 0, RecurseSubdirectories = false }))
        {
            string name = Path.GetFileName(full);
            string path = rel.Length == 0 ? name : rel + "/" + name;
            var info = Describe(full, xattrFilter);
            into[path] = info;
            if (info.Type == 'd') Walk(root, path, into, xattrFilter);
        }
    }

    public static NodeInfo Describe(string full, Func<string, bool>? xattrFilter = null)
    {
        var st = Libc.LStat(full);
        char type = (st.Mode & 0xF000) switch
        {
            0x8000 => 'f', 0x4000 => 'd', 0xA000 => 'l', 0x2000 => 'c', 0x6000 => 'b', 0x1000 => 'p', _ => '?',
        };
        var xattrs = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in Libc.LListXattr(full))
        {
            if (xattrFilter is not null && !xattrFilter(name)) continue;
            xattrs[name] = Convert.ToHexStringLower(Libc.LGetXattr(full, name) ?? []);
        }
        string? sha = type == 'f' ? Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(full))) : null;
        return new NodeInfo(type, st.Mode & 0xFFF, st.Uid, st.Gid, type is 'f' or 'l' ? st.Size : 0,
            type == 'l' ? new FileInfo(full).LinkTarget : null,
            type is 'c' or 'b' ? st.DevMajor : 0, type is 'c' or 'b' ? st.DevMinor : 0,
            st.MTimeSeconds, string.Join(",", xattrs.Select(kv => kv.Key + "=" + kv.Value)), sha)
        {
            LinkCount = st.LinkCount,
            Inode = st.Inode,
            Device = st.Dev,
        };
    }

    /// <summary>
    /// Asserts both trees hold the same paths with the same attributes (mtimes only when <paramref name="mtimes"/>), the
    /// same hardlink groups (paths sharing an inode) and the same link counts of regular files.
    /// </summary>
    public static void AssertEqual(IReadOnlyDictionary<string, NodeInfo> expected, IReadOnlyDictionary<string, NodeInfo> actual, bool mtimes = false,
        string what = "tree")
    {
        var errors = new StringBuilder();
        foreach (var p in expected.Keys.Except(actual.Keys)) errors.AppendLine($"missing: {p} ({expected[p]})");
        foreach (var p in actual.Keys.Except(expected.Keys)) errors.AppendLine($"unexpected: {p} ({actual[p]})");
        foreach (var (p, e) in expected)
        {
            if (!actual.TryGetValue(p, out var a)) continue;
            var en = e with { MTime = mtimes ? e.MTime : 0, Inode = 0, Device = 0, LinkCount = 0 };
            var an = a with { MTime = mtimes ? a.MTime : 0, Inode = 0, Device = 0, LinkCount = 0 };
            if (en != an) errors.AppendLine($"{p}:\n  expected {e}\n  actual   {a}");
            if (e.Type == 'f' && e.LinkCount != 0 && a.LinkCount != e.LinkCount) errors.AppendLine($"{p}: link count {a.LinkCount}, expected {e.LinkCount}");
        }
        var eg = Groups(expected);
        var ag = Groups(actual);
        foreach (var (p, group) in eg)
            if (ag.TryGetValue(p, out var other) && other != group) errors.AppendLine($"{p}: hardlinked with [{other}], expected [{group}]");
        Assert.True(errors.Length == 0, $"{what} differs:\n{errors}");
    }

    /// <summary>For each non-directory path, the sorted list of paths sharing its (st_dev, st_ino) (when it has one recorded).</summary>
    private static Dictionary<string, string> Groups(IReadOnlyDictionary<string, NodeInfo> tree)
    {
        var byInode = tree.Where(kv => kv.Value.Type != 'd' && kv.Value.Inode != 0).GroupBy(kv => (kv.Value.Device, kv.Value.Inode));
        var result = new Dictionary<string, string>();
        foreach (var g in byInode)
        {
            string members = string.Join(" ", g.Select(kv => kv.Key).Order(StringComparer.Ordinal));
            foreach (var kv in g) result[kv.Key] = members;
        }
        return result;
    }
}
