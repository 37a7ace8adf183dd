using System.Security.Cryptography;
using System.Text;
using Clip.Gzip;
using Clip.Interop;
using Clip.Oci;
using Clip.Testing;

namespace Clip.Index.Tests;

public class MergedTreeTests
{
    [Fact]
    public async Task Overlay_rules_give_the_expected_view()
    {
        using var dir = new TempDir();
        var layout = new OciLayoutBuilder(dir.Path);
        ImageFixtures.OverlayImage(layout);
        var (_, layers) = await ImageFixtures.IndexLayoutAsync(dir.Path, "overlay");
        var tree = MergedTree.Build(layers);
        var paths = tree.Walk().Select(n => n.Path).ToHashSet();

        Assert.DoesNotContain("etc/old.conf", paths);                  // whiteout
        Assert.Contains("etc/hosts", paths);
        Assert.DoesNotContain("var/cache/apt/pkgcache.bin", paths);    // opaque dir hides lower contents
        Assert.DoesNotContain("var/cache/apt/keep-not", paths);
        Assert.Contains("var/cache/apt/fresh", paths);
        Assert.Equal(1, tree.Find("replace-me")!.Layer);
        Assert.Equal(EntryType.Regular, tree.Find("dir-to-file")!.Entry.Type);
        Assert.DoesNotContain("dir-to-file/inner", paths);
        Assert.DoesNotContain("opt/app", paths);                       // whiteout of a directory removes its subtree
        Assert.DoesNotContain("opt/app/b.txt", paths);
        Assert.Contains("opt/app2/c", paths);
        var tool = tree.Find("usr/bin/tool")!;
        var alias = tree.Find("usr/bin/tool-alias")!;
        Assert.NotEqual(tool.InodeKey, alias.InodeKey);               // the upper layer replaced one name of the group
        Assert.Equal(1u, alias.LinkCount);
        Assert.Equal(0, alias.Layer);
    }

    [RootFact]
    public async Task The_merged_view_equals_a_full_unpack_by_umoci()
    {
        using var dir = new TempDir();
        var layoutDir = dir.Combine("layout");
        var layout = new OciLayoutBuilder(layoutDir);
        var image = ImageFixtures.OverlayImage(layout);
        var bundle = dir.Combine("bundle");
        (await Proc.RunAsync("umoci", "unpack", "--image", $"{layoutDir}:overlay", bundle)).EnsureSuccess("umoci unpack");
        var rootfs = Path.Combine(bundle, "rootfs");

        var (_, layers) = await ImageFixtures.IndexLayoutAsync(layoutDir, "overlay");
        var tree = MergedTree.Build(layers);
        await AssertTreeEqualsDirectoryAsync(tree, layers, rootfs, layoutDir);
    }

    [RootFact]
    public async Task A_busybox_image_made_by_umoci_and_copied_by_skopeo_indexes_and_reads_exactly()
    {
        Assert.True(File.Exists("/bin/busybox"), "busybox-static must be installed (apt-get install busybox-static)");
        using var dir = new TempDir();
        string layoutDir = dir.Combine("umoci"), bundle = dir.Combine("bundle");
        (await Proc.RunAsync("umoci", "init", "--layout", layoutDir)).EnsureSuccess("umoci init");
        (await Proc.RunAsync("umoci", "new", "--image", $"{layoutDir}:bb")).EnsureSuccess("umoci new");
        (await Proc.RunAsync("umoci", "unpack", "--image", $"{layoutDir}:bb", bundle)).EnsureSuccess("umoci unpack");
        var rootfs = Path.Combine(bundle, "rootfs");
        Directory.CreateDirectory(Path.Combine(rootfs, "bin"));
        File.Copy("/bin/busybox", Path.Combine(rootfs, "bin", "busybox"));
        foreach (var applet in new[] { "sh", "ls", "cat", "echo" })
            File.CreateSymbolicLink(Path.Combine(rootfs, "bin", applet), "busybox");
        Directory.CreateDirectory(Path.Combine(rootfs, "etc"));
        File.WriteAllText(Path.Combine(rootfs, "etc", "motd"), "hello from clip\n");
        (await Proc.RunAsync("umoci", "repack", "--image", $"{layoutDir}:bb", bundle)).EnsureSuccess("umoci repack");
        // skopeo converts it to Docker media types in a second layout: both must index.
        string dockerDir = dir.Combine("docker");
        (await Proc.RunAsync("skopeo", "copy", "--format", "v2s2", $"oci:{layoutDir}:bb", $"oci:{dockerDir}:bb")).EnsureSuccess("skopeo copy");

        foreach (var d in new[] { layoutDir, dockerDir })
        {
            var (image, layers) = await ImageFixtures.IndexLayoutAsync(d, "bb", spanSize: 256 * 1024);
            var tree = MergedTree.Build(layers);
            var busybox = tree.Find("bin/busybox")!;
            var layer = layers[busybox.Layer];
            using var blob = new FileRangeSource(OciLayout.Open(d).BlobPath(layer.Digest));
            var bytes = await IndexHelpers.ReadFileAsync(layer, busybox.Entry, blob);
            Assert.Equal(File.ReadAllBytes("/bin/busybox"), bytes);
            Assert.Equal("busybox", Encoding.UTF8.GetString(tree.Find("bin/sh")!.Entry.SymlinkTarget));
            Assert.Equal(layers.Count, image.Layers.Count);
        }
    }

    /// <summary>Compares every path, type, mode, owner, size, link target, hardlink identity, xattr and content digest.</summary>
    internal static async Task AssertTreeEqualsDirectoryAsync(MergedTree tree, IReadOnlyList<LayerIndex> layers, string root, string layoutDir)
    {
        var expected = new SortedSet<string>(WalkWithoutFollowingLinks(root).Select(p => Path.GetRelativePath(root, p)), StringComparer.Ordinal);
        var actual = new SortedSet<string>(tree.Walk().Skip(1).Select(n => n.Path), StringComparer.Ordinal);
        Assert.Equal(expected, actual);

        var layout = OciLayout.Open(layoutDir);
        var inodes = new Dictionary<ulong, (int, int)>();
        foreach (var node in tree.Walk().Skip(1))
        {
            var path = Path.Combine(root, node.Path);
            var st = Libc.LStat(path);
            var e = node.Entry.Target;
            uint fmt = st.Mode & 0xF000;
            uint expectedFmt = e.Type switch
            {
                EntryType.Regular => 0x8000u, EntryType.Directory => 0x4000u, EntryType.Symlink => 0xA000u,
                EntryType.CharDevice => 0x2000u, EntryType.BlockDevice => 0x6000u, EntryType.Fifo => 0x1000u, _ => 0u,
            };
            Assert.True(expectedFmt == fmt, $"{node.Path}: type {e.Type} vs mode {Convert.ToString(st.Mode, 8)}");
            if (e.Type != EntryType.Symlink) Assert.True((st.Mode & 0xFFF) == e.Mode, $"{node.Path}: mode {Convert.ToString(st.Mode & 0xFFF, 8)} vs {Convert.ToString(e.Mode, 8)}");
            Assert.True(st.Uid == e.Uid && st.Gid == e.Gid, $"{node.Path}: owner {st.Uid}:{st.Gid} vs {e.Uid}:{e.Gid}");
            switch (e.Type)
            {
                case EntryType.Regular:
                    Assert.Equal(st.Size, e.Size);
                    Assert.Equal(node.LinkCount, st.LinkCount);
                    if (inodes.TryGetValue(st.Inode, out var key)) Assert.Equal(key, node.InodeKey);
                    else inodes[st.Inode] = node.InodeKey;
                    var layer = layers[node.Layer];
                    using (var blob = new FileRangeSource(layout.BlobPath(layer.Digest)))
                    {
                        var content = await IndexHelpers.ReadFileAsync(layer, node.Entry, blob);
                        Assert.True(SHA256.HashData(content).AsSpan().SequenceEqual(SHA256.HashData(File.ReadAllBytes(path))), $"{node.Path}: content differs");
                    }
                    break;
                case EntryType.Symlink:
                    Assert.Equal(new FileInfo(path).LinkTarget, Encoding.UTF8.GetString(e.SymlinkTarget));
                    break;
                case EntryType.CharDevice or EntryType.BlockDevice:
                    Assert.Equal((e.DevMajor, e.DevMinor), (st.DevMajor, st.DevMinor));
                    break;
            }
            foreach (var (name, value) in e.Xattrs())
                Assert.Equal(value, Libc.LGetXattr(path, name));
        }
    }

    /// <summary>Every path below <paramref name="root"/>, not descending into symlinked directories.</summary>
    internal static IEnumerable<string> WalkWithoutFollowingLinks(string root)
    {
        foreach (var p in Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { AttributesToSkip = 0 }))
        {
            yield return p;
            if (Directory.Exists(p) && new FileInfo(p).LinkTarget is null)
                foreach (var q in WalkWithoutFollowingLinks(p)) yield return q;
        }
    }
}
