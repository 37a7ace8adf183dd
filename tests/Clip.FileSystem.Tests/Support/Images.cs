using Clip.Content;
using Clip.Gzip;
using Clip.Index;
using Clip.Index.Build;
using Clip.Oci;
using Clip.Testing;

namespace Clip.FileSystem.Tests.Support;

/// <summary>Test images built in code, and readers over their local blobs.</summary>
public static class Images
{
    private static readonly DateTimeOffset T1 = new(2023, 5, 6, 7, 8, 9, TimeSpan.Zero);
    private static readonly DateTimeOffset T2 = new(2024, 2, 3, 4, 5, 6, TimeSpan.Zero);

    /// <summary>
    /// Three layers with everything an unpack has to get right: whiteouts of files and directories, opaque
    /// directories, replacement of files by files and of directories by files, hardlink groups (one of which an
    /// upper layer breaks), symlinks, char/block devices, fifos, setuid/setgid/sticky modes, owners, mtimes,
    /// xattrs, empty and multi-span files, long and non-ASCII names, implicit directories over explicit ones.
    /// </summary>
    public static OciLayoutBuilder.Image Rich(OciLayoutBuilder layout, string tag = "rich")
    {
        var rng = new Random(4242);
        byte[] Rand(int n) { var b = new byte[n]; rng.NextBytes(b); return b; }
        var l1 = new LayerBuilder()
            .Dir("etc", mtime: T1).File("etc/passwd", "root:x:0:0::/root:/bin/sh\n", mtime: T1).File("etc/old.conf", "old")
            .Dir("var", mtime: T1).Dir("var/cache", mtime: T1).Dir("var/cache/apt", mtime: T1)
            .File("var/cache/apt/pkgcache.bin", Rand(200_000)).File("var/cache/apt/keep-not", "x")
            .Dir("usr", mtime: T1).Dir("usr/bin", mtime: T1)
            .File("usr/bin/tool", Rand(70_000), mode: 0b111_101_101).Hardlink("usr/bin/tool-alias", "usr/bin/tool")
            .File("usr/bin/su", Rand(3000), mode: 0b100_111_101_101) // 04755
            .File("usr/bin/wall", Rand(100), mode: 0b010_111_101_101, gid: 5) // 02755
            .Dir("tmp", mode: 0b001_111_111_111, mtime: T1) // 01777
            .Dir("srv", mode: 0b111_000_000, uid: 33, gid: 33, mtime: T1, xattrs: new Dictionary<string, string> { ["user.srv"] = "lower" })
            .Symlink("bin", "usr/bin").Symlink("etc/localtime", "/usr/share/zoneinfo/Etc/UTC")
            .File("replace-me", "lower").Dir("dir-to-file").File("dir-to-file/inner", "i")
            .Dir("dev").CharDevice("dev/null", 1, 3).BlockDevice("dev/sda", 8, 0).Dir("run").Fifo("run/fifo")
            .Dir("opt").Dir("opt/app").File("opt/app/a.txt", "a")
            .Dir("data").File("data/big.bin", Rand(600_000)).File("data/empty", Array.Empty<byte>())
            .File("data/owned", "by 1000", uid: 1000, gid: 1001, mode: 0b110_000_000)
            .File("data/" + new string('n', 200), "long name")
            .File("data/ünï cödé name", "utf-8 name")
            .File("data/caps", Rand(64), xattrs: new Dictionary<string, string> { ["user.mime_type"] = "application/octet-stream", ["trusted.note"] = "t" });
        var l2 = new LayerBuilder()
            .Whiteout("etc/old.conf").Opaque("var/cache/apt").File("var/cache/apt/fresh", "new")
            .File("replace-me", "upper wins", mtime: T2).File("dir-to-file", "now a file")
            .Dir("usr/bin").File("usr/bin/tool", Rand(1000), mode: 0b111_101_101) // tool replaced; tool-alias keeps the old inode
            .File("opt/app/b.txt", "b", xattrs: new Dictionary<string, string> { ["user.note"] = "hi" })
            .File("srv/www", "served")            // srv has no entry here: it keeps layer 1's 0700 33:33 and xattr
            .Dir("lib").File("lib/libx.so.1", Rand(5000)).Hardlink("lib/libx.so", "lib/libx.so.1").Hardlink("lib/libx-alias", "lib/libx.so.1");
        var l3 = new LayerBuilder()
            .Whiteout("opt/app").Dir("opt/app2", mode: 0b010_111_111_101).File("opt/app2/c", Rand(5000))
            .File("etc/hosts", "127.0.0.1 localhost\n", mode: 0b110_100_000, uid: 100, gid: 101)
            .Whiteout("lib/libx-alias")
            .Opaque("data").File("data/new", "fresh data");
        return layout.AddImage(tag, [OciLayoutBuilder.Layer.Gzip(l1), OciLayoutBuilder.Layer.Gzip(l2), OciLayoutBuilder.Layer.Gzip(l3)]);
    }

    public static async Task<(ImageInfo Image, IReadOnlyList<LayerIndex> Layers)> IndexLayoutAsync(string dir, string? tag, long spanSize = 64 * 1024)
    {
        var layout = OciLayout.Open(dir);
        var resolved = layout.Resolve(tag);
        resolved = resolved with { Reference = $"oci:{Path.GetFullPath(dir)}:{tag}" };
        return await ImageIndexer.IndexAsync(resolved,
            (d, _) => Task.FromResult<Stream>(File.OpenRead(layout.BlobPath(Digest.Parse(d.Digest)))),
            new LayerIndexOptions { SpanSize = spanSize });
    }
}

/// <summary>An image read from its local OCI layout: one <see cref="LayerReader"/> per layer over the blob file.</summary>
public sealed class LocalImage : IDisposable
{
    private readonly List<FileRangeSource> _sources = [];

    public LocalImage(string layoutDir, IReadOnlyList<LayerIndex> layers, string cacheDir, ContentOptions? options = null)
    {
        Layers = layers;
        var layout = OciLayout.Open(layoutDir);
        Options = options ?? new ContentOptions { CacheDirectory = cacheDir, SmallLayerThreshold = 0 };
        Cache = new SpanCache(Path.Combine(cacheDir, "spans"), Options.CacheMaxBytes);
        var readers = new List<LayerReader>();
        foreach (var layer in layers)
        {
            var source = new FileRangeSource(layout.BlobPath(layer.Digest));
            _sources.Add(source);
            readers.Add(new LayerReader(layer, source, Cache, Options));
        }
        Readers = readers;
    }

    public IReadOnlyList<LayerIndex> Layers { get; }
    public IReadOnlyList<LayerReader> Readers { get; }
    public SpanCache Cache { get; }
    public ContentOptions Options { get; }
    public IReadOnlyList<FileRangeSource> Sources => _sources;

    public long BytesRead => _sources.Sum(s => s.BytesRead);

    public void Dispose()
    {
        foreach (var r in Readers) r.Dispose();
        foreach (var s in _sources) s.Dispose();
    }
}
