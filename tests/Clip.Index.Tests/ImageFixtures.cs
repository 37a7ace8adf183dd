using Clip.Index.Build;
using Clip.Oci;
using Clip.Testing;

namespace Clip.Index.Tests;

internal static class ImageFixtures
{
    /// <summary>A three-layer image exercising overlay rules: whiteouts, opaque dirs, replacement, hardlinks, devices.</summary>
    public static OciLayoutBuilder.Image OverlayImage(OciLayoutBuilder layout, string tag = "overlay")
    {
        var rng = new Random(77);
        byte[] Rand(int n) { var b = new byte[n]; rng.NextBytes(b); return b; }
        var l1 = new LayerBuilder()
            .Dir("etc").File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").File("etc/old.conf", "old")
            .Dir("var/cache/apt", mode: 0b111_101_101).File("var/cache/apt/pkgcache.bin", Rand(200_000)).File("var/cache/apt/keep-not", "x")
            .Dir("usr/bin").File("usr/bin/tool", Rand(70_000), mode: 0b111_101_101).Hardlink("usr/bin/tool-alias", "usr/bin/tool")
            .Symlink("bin", "usr/bin").File("replace-me", "lower").Dir("dir-to-file").File("dir-to-file/inner", "i")
            .CharDevice("dev/null", 1, 3).Fifo("run/fifo").Dir("opt/app").File("opt/app/a.txt", "a");
        var l2 = new LayerBuilder()
            .Whiteout("etc/old.conf").Opaque("var/cache/apt").File("var/cache/apt/fresh", "new")
            .File("replace-me", "upper wins").File("dir-to-file", "now a file")
            .Dir("usr/bin").File("usr/bin/tool", Rand(1000), mode: 0b111_101_101) // tool replaced; tool-alias keeps the old inode
            .File("opt/app/b.txt", "b", xattrs: new Dictionary<string, string> { ["user.note"] = "hi" });
        var l3 = new LayerBuilder()
            .Whiteout("opt/app").Dir("opt/app2").File("opt/app2/c", Rand(5000))
            .File("etc/hosts", "127.0.0.1 localhost\n", mode: 0b110_100_000, uid: 100, gid: 101);
        return layout.AddImage(tag, [OciLayoutBuilder.Layer.Gzip(l1), OciLayoutBuilder.Layer.Gzip(l2), OciLayoutBuilder.Layer.Gzip(l3)]);
    }

    public static async Task<(ImageInfo Image, IReadOnlyList<LayerIndex> Layers)> IndexLayoutAsync(string dir, string? tag, long spanSize = 64 * 1024)
    {
        var layout = OciLayout.Open(dir);
        var resolved = layout.Resolve(tag);
        return await ImageIndexer.IndexAsync(resolved,
            (d, _) => Task.FromResult<Stream>(File.OpenRead(layout.BlobPath(Digest.Parse(d.Digest)))),
            new LayerIndexOptions { SpanSize = spanSize });
    }
}
