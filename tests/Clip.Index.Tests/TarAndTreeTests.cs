using System.Formats.Tar;
using System.Text;
using Clip.Gzip;
using Clip.Index.Tar;
using Clip.Testing;

namespace Clip.Index.Tests;

public class TarAndTreeTests
{
    private static readonly DateTimeOffset T = new(2023, 5, 6, 7, 8, 9, TimeSpan.Zero);

    public static TheoryData<TarEntryFormat> Formats => new() { TarEntryFormat.Pax, TarEntryFormat.Gnu, TarEntryFormat.Ustar };

    [Theory]
    [MemberData(nameof(Formats))]
    public async Task Every_entry_type_and_its_metadata_round_trips(TarEntryFormat format)
    {
        var rng = new Random(1);
        var big = new byte[300_000];
        rng.NextBytes(big);
        var b = new LayerBuilder { Format = format }
            .Dir("etc", mode: 0b111_101_101, uid: 0, gid: 0, mtime: T)
            .File("etc/hosts", Encoding.ASCII.GetBytes("127.0.0.1 localhost\n"), mode: 0b110_100_100, uid: 12, gid: 34, mtime: T)
            .File("usr/bin/sudo", big, mode: 0b100_111_101_101, uid: 0, gid: 0)          // setuid 4755
            .Dir("usr/local/share", mode: 0b010_111_101_101)                             // setgid 2755
            .Dir("tmp", mode: 0b001_111_111_111)                                         // sticky 1777
            .Symlink("usr/bin/vi", "/usr/bin/vim.basic")
            .Hardlink("usr/bin/sudoedit", "usr/bin/sudo")
            .Fifo("run/initctl", mode: 0b110_000_000)
            .File("empty", []);
        if (format != TarEntryFormat.V7)
        {
            b.CharDevice("dev/null", 1, 3).BlockDevice("dev/sda", 8, 0);
        }
        var tar = b.BuildTar();
        var layer = await IndexHelpers.IndexAsync(LayerBuilder.Gzip(tar));

        var hosts = layer.Find("etc/hosts")!.Value;
        Assert.Equal(EntryType.Regular, hosts.Type);
        Assert.Equal(0b110_100_100u, hosts.Mode);
        Assert.Equal(12u, hosts.Uid);
        Assert.Equal(34u, hosts.Gid);
        Assert.Equal(T.ToUnixTimeSeconds(), hosts.MTimeSeconds);
        Assert.Equal(20, hosts.Size);

        var sudo = layer.Find("usr/bin/sudo")!.Value;
        Assert.Equal(0b100_111_101_101u, sudo.Mode);
        Assert.Equal(2u, sudo.LinkCount);
        var sudoedit = layer.Find("usr/bin/sudoedit")!.Value;
        Assert.Equal(EntryType.Hardlink, sudoedit.Type);
        Assert.Equal(sudo, sudoedit.Target);

        Assert.Equal(0b010_111_101_101u, layer.Find("usr/local/share")!.Value.Mode);
        Assert.Equal(0b001_111_111_111u, layer.Find("tmp")!.Value.Mode);
        var vi = layer.Find("usr/bin/vi")!.Value;
        Assert.Equal(EntryType.Symlink, vi.Type);
        Assert.Equal("/usr/bin/vim.basic", Encoding.UTF8.GetString(vi.SymlinkTarget));
        Assert.Equal(EntryType.Fifo, layer.Find("run/initctl")!.Value.Type);
        Assert.Equal(0b110_000_000u, layer.Find("run/initctl")!.Value.Mode);
        var dev = layer.Find("dev/null")!.Value;
        Assert.Equal((EntryType.CharDevice, 1u, 3u), (dev.Type, dev.DevMajor, dev.DevMinor));
        var sda = layer.Find("dev/sda")!.Value;
        Assert.Equal((EntryType.BlockDevice, 8u, 0u), (sda.Type, sda.DevMajor, sda.DevMinor));
        Assert.Equal(0, layer.Find("empty")!.Value.Size);
        Assert.Equal("root", layer.Find("etc")!.Value.UserName);

        // Directories created for names below them exist, flagged implicit; nlink counts subdirectories.
        var usr = layer.Find("usr")!.Value;
        Assert.Equal(EntryType.Directory, usr.Type);
        Assert.True((usr.Flags & EntryFlags.Implicit) != 0);
        Assert.Equal(2u + 2u, usr.LinkCount); // bin, local
        Assert.True((layer.Find("etc")!.Value.Flags & EntryFlags.Implicit) == 0);

        // Content read by random access equals the tar's.
        var blob = new MemoryRangeSource(LayerBuilder.Gzip(tar));
        Assert.Equal(big, await IndexHelpers.ReadFileAsync(layer, sudoedit, blob));
    }

    [Fact]
    public async Task Long_names_xattrs_big_ids_and_subsecond_times_survive_PAX()
    {
        string longDir = string.Join('/', Enumerable.Range(0, 20).Select(i => $"directory-number-{i:D3}"));
        string longName = longDir + "/" + new string('f', 200);
        var xattrs = new Dictionary<string, string> { ["user.comment"] = "hello", ["security.capability"] = "\u0001\u0002" };
        var tar = new LayerBuilder()
            .File(longName, "x"u8.ToArray(), uid: 3_000_000, gid: 4_000_000, mtime: new DateTimeOffset(2030, 1, 1, 0, 0, 0, 123, TimeSpan.Zero), xattrs: xattrs)
            .Symlink("link", longName)
            .BuildTar();
        var layer = await IndexHelpers.IndexAsync(LayerBuilder.Gzip(tar));
        var e = layer.Find(longName)!.Value;
        Assert.Equal(3_000_000u, e.Uid);
        Assert.Equal(4_000_000u, e.Gid);
        Assert.Equal(123_000_000, e.MTimeNanoseconds);
        var got = e.Xattrs().ToDictionary(kv => kv.Key, kv => Encoding.UTF8.GetString(kv.Value));
        Assert.Equal(xattrs, got);
        Assert.Equal(longName, Encoding.UTF8.GetString(layer.Find("link")!.Value.SymlinkTarget));
    }

    [Fact]
    public async Task GNU_long_names_and_long_link_targets_are_read()
    {
        string longName = "a/" + new string('n', 180) + "/file";
        string longTarget = "/" + new string('t', 150);
        var tar = new LayerBuilder { Format = TarEntryFormat.Gnu }.File(longName, "data").Symlink("s", longTarget).BuildTar();
        var layer = await IndexHelpers.IndexAsync(LayerBuilder.Gzip(tar));
        Assert.Equal(4, layer.Find(longName)!.Value.Size);
        Assert.Equal(longTarget, Encoding.UTF8.GetString(layer.Find("s")!.Value.SymlinkTarget));
    }

    [Fact]
    public async Task Hostile_names_never_leave_the_tree()
    {
        var tar = new LayerBuilder()
            .File("../../../etc/passwd", "evil1")
            .File("/abs/olute", "evil2")
            .File("a/b/../../../../c", "evil3")
            .File("./dot//slashes///x", "ok")
            .Hardlink("../outside-link", "/abs/olute")
            .BuildTar();
        var layer = await IndexHelpers.IndexAsync(LayerBuilder.Gzip(tar));
        var paths = layer.Entries().Select(e => e.Path).ToHashSet();
        Assert.Contains("etc/passwd", paths);
        Assert.Contains("abs/olute", paths);
        Assert.Contains("c", paths);
        Assert.Contains("dot/slashes/x", paths);
        Assert.Contains("outside-link", paths);
        Assert.All(paths, p => Assert.DoesNotContain("..", p.Split('/')));
        Assert.All(paths, p => Assert.False(p.StartsWith('/')));
        Assert.Equal(layer.Find("abs/olute")!.Value, layer.Find("outside-link")!.Value.Target);
    }

    [Fact]
    public async Task Later_entries_replace_earlier_ones_and_hardlink_groups_survive_replacement()
    {
        var tar = new LayerBuilder()
            .File("f", "first")
            .File("f", "second!")
            .File("orig", "shared-content")
            .Hardlink("alias1", "orig")
            .Hardlink("alias2", "orig")
            .File("orig", "replaced") // alias1 and alias2 keep the old inode
            .Dir("d").File("d/inner", "x")
            .File("d", "now a file")   // a directory replaced by a file loses its subtree
            .BuildTar();
        var gz = LayerBuilder.Gzip(tar);
        var layer = await IndexHelpers.IndexAsync(gz);
        var blob = new MemoryRangeSource(gz);
        Assert.Equal("second!", Encoding.ASCII.GetString(await IndexHelpers.ReadFileAsync(layer, layer.Find("f")!.Value, blob)));
        Assert.Equal("replaced", Encoding.ASCII.GetString(await IndexHelpers.ReadFileAsync(layer, layer.Find("orig")!.Value, blob)));
        var a1 = layer.Find("alias1")!.Value;
        var a2 = layer.Find("alias2")!.Value;
        Assert.Equal("shared-content", Encoding.ASCII.GetString(await IndexHelpers.ReadFileAsync(layer, a1, blob)));
        Assert.Equal(a1.Target, a2.Target);
        Assert.Equal(2u, a1.Target.LinkCount);
        Assert.Equal(1u, layer.Find("orig")!.Value.LinkCount);
        Assert.Equal(EntryType.Regular, layer.Find("d")!.Value.Type);
        Assert.Null(layer.Find("d/inner"));
    }

    [Fact]
    public async Task Whiteouts_and_opaque_markers_are_entries_of_the_layer()
    {
        var tar = new LayerBuilder().Whiteout("etc/old.conf").Opaque("var/cache").File("var/cache/new", "n").File("x/.wh..wh.plnk", "aufs").BuildTar();
        var layer = await IndexHelpers.IndexAsync(LayerBuilder.Gzip(tar));
        Assert.Equal(EntryType.Whiteout, layer.Find("etc/old.conf")!.Value.Type);
        Assert.True(layer.Find("var/cache")!.Value.IsOpaque);
        Assert.NotNull(layer.Find("var/cache/new"));
        Assert.Null(layer.Find("x/.wh..wh.plnk"));
        Assert.Null(layer.Find("etc/.wh.old.conf"));
    }

    [Fact]
    public async Task A_name_below_a_file_is_refused_with_a_clear_error()
    {
        var tar = new LayerBuilder().File("a", "file").File("a/b", "below a file").BuildTar();
        var e = await Assert.ThrowsAsync<TarFormatException>(() => IndexHelpers.IndexAsync(LayerBuilder.Gzip(tar)));
        Assert.Contains("not a directory", e.Message);
    }

    [Fact]
    public async Task Hardlinks_to_names_outside_the_layer_are_dropped_and_counted()
    {
        var tar = new LayerBuilder().File("here", "h").Hardlink("link", "usr/lib/from-lower-layer").BuildTar();
        var layer = await IndexHelpers.IndexAsync(LayerBuilder.Gzip(tar));
        Assert.Null(layer.Find("link"));
        Assert.Equal(1, layer.DroppedEntries);
    }

    [Fact]
    public async Task Uncompressed_tar_layers_are_indexed_without_checkpoints()
    {
        var tar = new LayerBuilder().File("a/b", "hello").File("c", new byte[5000]).BuildTar();
        var layer = await IndexHelpers.IndexAsync(tar, Clip.Oci.MediaTypes.OciLayer);
        Assert.Equal(Clip.Oci.LayerCompression.None, layer.Compression);
        Assert.Empty(layer.Checkpoints);
        Assert.Equal(layer.Digest, layer.DiffId);
        Assert.Equal("hello", Encoding.ASCII.GetString(await IndexHelpers.ReadFileAsync(layer, layer.Find("a/b")!.Value, new MemoryRangeSource(tar))));
    }

    [Fact]
    public async Task Truncated_tar_inside_a_valid_gzip_is_refused()
    {
        var tar = new LayerBuilder().File("a", new byte[10_000]).BuildTar();
        var e = await Assert.ThrowsAsync<TarFormatException>(() => IndexHelpers.IndexAsync(LayerBuilder.Gzip(tar[..3000])));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public async Task A_corrupt_header_checksum_is_refused()
    {
        var tar = new LayerBuilder().File("a", "x").BuildTar();
        tar[10] ^= 0x20;
        var e = await Assert.ThrowsAsync<TarFormatException>(() => IndexHelpers.IndexAsync(LayerBuilder.Gzip(tar)));
        Assert.Contains("checksum", e.Message);
    }

    [Fact]
    public async Task Entries_match_an_independent_tar_reader()
    {
        var rng = new Random(5);
        var b = new LayerBuilder();
        for (int i = 0; i < 300; i++)
        {
            var data = new byte[rng.Next(0, i % 37 == 0 ? 200_000 : 3000)];
            rng.NextBytes(data);
            b.File($"d{i % 7}/sub{i % 3}/f{i}", data, mode: 0b110_100_100 | (i % 2) * 0b001_001_001, uid: i, gid: i * 2);
        }
        var tar = b.BuildTar();
        var gz = LayerBuilder.Gzip(tar);
        var layer = await IndexHelpers.IndexAsync(gz);
        var blob = new MemoryRangeSource(gz);
        foreach (var (te, data) in IndexHelpers.ReadTar(tar))
        {
            var e = layer.Find(IndexHelpers.Normalize(te.Name))!.Value;
            Assert.Equal((uint)te.Mode, e.Mode);
            Assert.Equal((uint)te.Uid, e.Uid);
            Assert.Equal((uint)te.Gid, e.Gid);
            Assert.Equal(te.ModificationTime.ToUnixTimeSeconds(), e.MTimeSeconds);
            Assert.Equal(data, await IndexHelpers.ReadFileAsync(layer, e, blob));
        }
    }
}
