using System.Text;
using Clip.FileSystem.Tests.Support;
using Clip.Fuse;
using Clip.Index;
using Clip.Interop;
using Clip.Testing;

namespace Clip.FileSystem.Tests;

/// <summary>The merged tree answered directly: node id encoding, hardlinks, hidden names, no allocation on the hot path.</summary>
public sealed class MergedTreeFileSystemTests : IAsyncLifetime
{
    private readonly TempDir _dir = new("clip-fsmt");
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

    private static NodeEntry Resolve(IFuseFileSystem fs, string path)
    {
        NodeEntry entry = default;
        entry.NodeId = NodeId.Root;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
            Assert.Equal(0, (int)fs.Lookup(entry.NodeId, Encoding.UTF8.GetBytes(part), out entry));
        return entry;
    }

    [Fact]
    public void Node_ids_encode_layer_and_inode_entry_and_hardlinks_share_them()
    {
        var fs = new MergedTreeFileSystem(_image.Layers, _image.Readers);
        var hosts = _image.Layers[2].Find("etc/hosts")!.Value;
        Assert.Equal((2UL << 32) | ((ulong)hosts.Index + 1), Resolve(fs, "etc/hosts").NodeId.Value);
        var lib = Resolve(fs, "lib/libx.so");
        Assert.Equal(lib.NodeId, Resolve(fs, "lib/libx.so.1").NodeId);
        Assert.Equal(2u, lib.Attributes.LinkCount);
        Assert.Equal(Errno.ENOENT, fs.Lookup(Resolve(fs, "lib").NodeId, "libx-alias"u8, out _));
        Assert.Equal(Errno.ENOENT, fs.Lookup(Resolve(fs, "etc").NodeId, "old.conf"u8, out _));
        Assert.Equal(Errno.ENOENT, fs.Lookup(Resolve(fs, "data").NodeId, "big.bin"u8, out _)); // opaque in layer 3
        Assert.Equal(Resolve(fs, "etc/hosts").NodeId, Resolve(new MergedTreeFileSystem(_image.Layers, _image.Readers), "etc/hosts").NodeId);
    }

    [Fact]
    public async Task Files_read_from_the_layer_they_come_from()
    {
        var fs = new MergedTreeFileSystem(_image.Layers, _image.Readers);
        var replace = Resolve(fs, "replace-me");
        var bytes = await LayerTreeFileSystemTests.ReadAllAsync(fs, replace.NodeId, replace.Attributes.Size, 4096);
        Assert.Equal("upper wins", Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public void Lookup_and_getattr_do_not_allocate()
    {
        var fs = new MergedTreeFileSystem(_image.Layers, _image.Readers);
        var etc = Resolve(fs, "etc").NodeId;
        var hosts = Resolve(fs, "etc/hosts").NodeId;
        Allocation.AssertNone(() =>
        {
            fs.Lookup(etc, "hosts"u8, out _);
            fs.Lookup(etc, "missing"u8, out _);
            fs.GetAttributes(hosts, out _);
            fs.GetAttributes(NodeId.Root, out _);
        });
    }
}
