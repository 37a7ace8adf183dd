using System.Text;
using Clip.FileSystem.Tests.Support;
using Clip.Fuse;
using Clip.Index;
using Clip.Interop;
using Clip.Testing;

namespace Clip.FileSystem.Tests;

/// <summary>The layer tree answered directly (no mount): overlayfs conventions, stable node ids, no allocation on the hot path.</summary>
public sealed class LayerTreeFileSystemTests : IAsyncLifetime
{
    private readonly TempDir _dir = new("clip-fs");
    private LocalImage _image = null!;

    public async Task InitializeAsync()
    {
        var layout = new OciLayoutBuilder(_dir.Combine("layout"));
        Images.Rich(layout);
        var (_, layers) = await Images.IndexLayoutAsync(layout.Directory, "rich");
        _image = new LocalImage(layout.Directory, layers, _dir.Combine("cache"));
    }

    public Task DisposeAsync()
    {
        _image.Dispose();
        _dir.Dispose();
        return Task.CompletedTask;
    }

    private LayerTreeFileSystem Layer(int i, bool withLowers = false) =>
        new(_image.Layers[i], _image.Readers[i], withLowers ? _image.Layers.Take(i).ToList() : null);

    private static NodeEntry Resolve(IFuseFileSystem fs, string path)
    {
        var node = NodeId.Root;
        NodeEntry entry = default;
        Assert.Equal(0, (int)fs.GetAttributes(node, out entry.Attributes));
        entry.NodeId = node;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var errno = fs.Lookup(node, Encoding.UTF8.GetBytes(part), out entry);
            Assert.True(errno == 0, $"lookup {part} of {path}: {errno}");
            node = entry.NodeId;
        }
        return entry;
    }

    [Fact]
    public void Node_ids_are_entry_indexes_plus_one_and_the_root_is_1()
    {
        var fs = Layer(0);
        var layer = _image.Layers[0];
        var passwd = layer.Find("etc/passwd")!.Value;
        Assert.Equal((ulong)passwd.Index + 1, Resolve(fs, "etc/passwd").NodeId.Value);
        Assert.Equal(FileTypes.Directory | 0x1ED, Resolve(fs, "").Attributes.Mode);
        // A second tree over the same index gives the same ids (a restarted server answers for the same nodes).
        Assert.Equal(Resolve(fs, "usr/bin/tool").NodeId, Resolve(Layer(0), "usr/bin/tool").NodeId);
    }

    [Fact]
    public void Hardlinks_are_one_node_with_the_true_link_count()
    {
        var fs = Layer(0);
        var tool = Resolve(fs, "usr/bin/tool");
        var alias = Resolve(fs, "usr/bin/tool-alias");
        Assert.Equal(tool.NodeId, alias.NodeId);
        Assert.Equal(2u, tool.Attributes.LinkCount);
        Assert.Equal(tool.Attributes, alias.Attributes);
        var lib = Layer(1);
        Assert.Equal(3u, Resolve(lib, "lib/libx.so").Attributes.LinkCount);
        Assert.Equal(Resolve(lib, "lib/libx.so.1").NodeId, Resolve(lib, "lib/libx-alias").NodeId);
    }

    [Fact]
    public void Whiteouts_are_char_devices_0_0_and_opaque_directories_carry_the_overlay_xattr()
    {
        var fs = Layer(1);
        var wh = Resolve(fs, "etc/old.conf").Attributes;
        Assert.Equal(FileTypes.CharacterDevice, wh.FileType);
        Assert.Equal((0u, 0u), (wh.DeviceMajor, wh.DeviceMinor));

        var apt = Resolve(fs, "var/cache/apt").NodeId;
        var value = new byte[8];
        Assert.Equal(0, (int)fs.GetExtendedAttribute(apt, "trusted.overlay.opaque"u8, value, out int length));
        Assert.Equal("y", Encoding.ASCII.GetString(value, 0, length));
        var list = new byte[256];
        Assert.Equal(0, (int)fs.ListExtendedAttributes(apt, list, out length));
        Assert.Equal("trusted.overlay.opaque\0", Encoding.ASCII.GetString(list, 0, length));
        // Not opaque: no marker.
        Assert.Equal(Errno.ENODATA, fs.GetExtendedAttribute(Resolve(fs, "usr/bin").NodeId, "trusted.overlay.opaque"u8, value, out _));
        // The opaque marker file itself is not a name in the tree.
        Assert.Equal(Errno.ENOENT, fs.Lookup(apt, ".wh..wh..opq"u8, out _));
    }

    [Fact]
    public void Extended_attributes_come_from_the_tar_and_report_their_length_when_asked()
    {
        var fs = Layer(0);
        var caps = Resolve(fs, "data/caps").NodeId;
        Assert.Equal(0, (int)fs.ListExtendedAttributes(caps, [], out int listLength));
        var list = new byte[listLength];
        Assert.Equal(0, (int)fs.ListExtendedAttributes(caps, list, out _));
        Assert.Equal(["trusted.note", "user.mime_type"], Encoding.UTF8.GetString(list).TrimEnd('\0').Split('\0').Order(StringComparer.Ordinal));
        Assert.Equal(0, (int)fs.GetExtendedAttribute(caps, "user.mime_type"u8, [], out int valueLength));
        Assert.Equal("application/octet-stream".Length, valueLength);
        Assert.Equal(Errno.ENODATA, fs.GetExtendedAttribute(caps, "user.nope"u8, new byte[64], out _));
    }

    [Fact]
    public void Modes_owners_devices_times_and_symlinks_are_those_of_the_tar()
    {
        var fs = Layer(0);
        Assert.Equal(FileTypes.Regular | 0x9ED, Resolve(fs, "usr/bin/su").Attributes.Mode);          // 04755
        Assert.Equal(FileTypes.Regular | 0x5ED, Resolve(fs, "usr/bin/wall").Attributes.Mode);        // 02755
        Assert.Equal(FileTypes.Directory | 0x3FF, Resolve(fs, "tmp").Attributes.Mode);               // 01777
        var owned = Resolve(fs, "data/owned").Attributes;
        Assert.Equal((1000u, 1001u, FileTypes.Regular | 0x180), (owned.Uid, owned.Gid, owned.Mode));
        var sda = Resolve(fs, "dev/sda").Attributes;
        Assert.Equal((FileTypes.BlockDevice, 8u, 0u), (sda.FileType, sda.DeviceMajor, sda.DeviceMinor));
        Assert.Equal(FileTypes.Fifo, Resolve(fs, "run/fifo").Attributes.FileType);
        var passwd = Resolve(fs, "etc/passwd").Attributes;
        long t1 = new DateTimeOffset(2023, 5, 6, 7, 8, 9, TimeSpan.Zero).ToUnixTimeSeconds();
        Assert.Equal((t1, t1, t1), (passwd.ModificationTimeSeconds, passwd.AccessTimeSeconds, passwd.ChangeTimeSeconds));
        var link = Resolve(fs, "etc/localtime");
        Assert.Equal(FileTypes.Symlink, link.Attributes.FileType);
        var target = new byte[4096];
        Assert.Equal(0, (int)fs.ReadLink(link.NodeId, target, out int n));
        Assert.Equal("/usr/share/zoneinfo/Etc/UTC", Encoding.UTF8.GetString(target, 0, n));
        Assert.Equal(n, link.Attributes.Size);
        Assert.Equal(Errno.ENAMETOOLONG, fs.ReadLink(link.NodeId, new byte[4], out _));
        Assert.Equal(Errno.EINVAL, fs.ReadLink(Resolve(fs, "etc/passwd").NodeId, target, out _));
    }

    [Fact]
    public void Lookups_of_missing_names_unknown_nodes_and_non_directories_fail_with_the_right_errno()
    {
        var fs = Layer(0);
        Assert.Equal(Errno.ENOENT, fs.Lookup(NodeId.Root, "nope"u8, out _));
        Assert.Equal(Errno.ENOTDIR, fs.Lookup(Resolve(fs, "etc/passwd").NodeId, "x"u8, out _));
        Assert.Equal(Errno.ENOENT, fs.GetAttributes(new NodeId(0), out _));
        Assert.Equal(Errno.ENOENT, fs.GetAttributes(new NodeId((ulong)_image.Layers[0].EntryCount + 1), out _));
        Assert.Equal(Errno.EISDIR, fs.Open(Resolve(fs, "etc").NodeId, 0, out _));
        Assert.Equal(Errno.ENOTDIR, fs.OpenDirectory(Resolve(fs, "etc/passwd").NodeId, out _));
    }

    [Fact]
    public async Task Reads_return_the_file_bytes_at_any_offset_and_short_at_end_of_file()
    {
        var fs = Layer(0);
        var big = Resolve(fs, "data/big.bin");
        var expected = (await ReadAllAsync(fs, big.NodeId, big.Attributes.Size, 65_537));
        Assert.Equal(600_000, expected.Length);
        var tail = new byte[4096];
        int n = await fs.ReadAsync(big.NodeId, 0, 600_000 - 100, tail, default);
        Assert.Equal(100, n);
        Assert.Equal(expected.AsSpan(600_000 - 100).ToArray(), tail[..100]);
        Assert.Equal(0, await fs.ReadAsync(big.NodeId, 0, 600_000, tail, default));
        var empty = Resolve(fs, "data/empty");
        Assert.Equal(0, await fs.ReadAsync(empty.NodeId, 0, 0, tail, default));
    }

    internal static async Task<byte[]> ReadAllAsync(IFuseFileSystem fs, NodeId node, long size, int chunk)
    {
        var result = new byte[size];
        long at = 0;
        while (at < size)
        {
            int n = await fs.ReadAsync(node, 0, at, result.AsMemory((int)at, (int)Math.Min(chunk, size - at)), default);
            Assert.True(n > 0, $"short read at {at} of {size}");
            at += n;
        }
        return result;
    }

    [Fact]
    public void Implicit_directories_show_the_metadata_of_the_layers_below_when_given_them()
    {
        // Layer 2 writes srv/www without an entry for srv: alone it shows defaults, over layer 1 it shows layer 1's srv.
        var alone = Resolve(Layer(1), "srv").Attributes;
        Assert.Equal((FileTypes.Directory | 0x1ED, 0u), (alone.Mode, alone.Uid));
        var fs = Layer(1, withLowers: true);
        var srv = Resolve(fs, "srv");
        Assert.Equal((FileTypes.Directory | 0x1C0, 33u, 33u), (srv.Attributes.Mode, srv.Attributes.Uid, srv.Attributes.Gid));
        var value = new byte[16];
        Assert.Equal(0, (int)fs.GetExtendedAttribute(srv.NodeId, "user.srv"u8, value, out int n));
        Assert.Equal("lower", Encoding.UTF8.GetString(value, 0, n));
        // An implicit directory that is opaque keeps its marker.
        Assert.Equal(0, (int)fs.GetExtendedAttribute(Resolve(fs, "var/cache/apt").NodeId, "trusted.overlay.opaque"u8, value, out _));
        Assert.True(fs.InheritedDirectoryCount >= 4, $"{fs.InheritedDirectoryCount} inherited"); // root? var, var/cache, var/cache/apt, usr(bin explicit), opt, opt/app, srv
    }

    [Fact]
    public void Lookup_and_getattr_do_not_allocate()
    {
        var fs = Layer(0);
        var bin = Resolve(fs, "usr/bin").NodeId;
        var tool = Resolve(fs, "usr/bin/tool").NodeId;
        var caps = Resolve(fs, "data/caps").NodeId;
        var value = new byte[256];
        Allocation.AssertNone(() =>
        {
            fs.Lookup(bin, "tool"u8, out _);
            fs.Lookup(bin, "tool-alias"u8, out _);
            fs.Lookup(bin, "missing"u8, out _);
            fs.GetAttributes(tool, out _);
            fs.GetAttributes(NodeId.Root, out _);
            fs.GetExtendedAttribute(caps, "user.mime_type"u8, value, out _);
            fs.ListExtendedAttributes(caps, value, out _);
        });
        var withLowers = Layer(1, withLowers: true);
        var srv = Resolve(withLowers, "srv").NodeId;
        Allocation.AssertNone(() =>
        {
            withLowers.Lookup(NodeId.Root, "srv"u8, out _);
            withLowers.GetAttributes(srv, out _);
        });
    }
}
