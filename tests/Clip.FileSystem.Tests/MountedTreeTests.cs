using Clip.Content;
using Clip.FileSystem.Tests.Support;
using Clip.Index;
using Clip.Index.Build;
using Clip.Oci;
using Clip.Registry;
using Clip.Testing;

namespace Clip.FileSystem.Tests;

/// <summary>
/// Trees mounted for real and read through the kernel, compared with ground truth that does not come from
/// clip: each layer with its tar (System.Formats.Tar), the merged view with a full unpack by umoci.
/// </summary>
public sealed class MountedTreeTests : IAsyncLifetime
{
    private readonly TempDir _dir = new("clip-fsm");
    private OciLayoutBuilder.Image _built = null!;
    private string _layout = null!;
    private IReadOnlyList<LayerIndex> _layers = null!;

    public async Task InitializeAsync()
    {
        _layout = _dir.Combine("layout");
        _built = Images.Rich(new OciLayoutBuilder(_layout));
        (_, _layers) = await Images.IndexLayoutAsync(_layout, "rich");
    }

    public Task DisposeAsync()
    {
        try
        {
            Mounts.AssertNothingMountedUnder(_dir.Path);
        }
        finally
        {
            _dir.Dispose();
        }
        return Task.CompletedTask;
    }

    private async Task<SortedDictionary<string, NodeInfo>> UnpackWithUmociAsync()
    {
        string bundle = _dir.Combine("bundle");
        (await Proc.RunAsync("umoci", "unpack", "--image", $"{_layout}:rich", bundle)).EnsureSuccess("umoci unpack");
        return TreeSnapshot.Take(Path.Combine(bundle, "rootfs"));
    }

    [RootFact]
    public async Task Each_layer_tree_equals_its_tar_in_overlay_conventions()
    {
        using var image = new LocalImage(_layout, _layers, _dir.Combine("cache"));
        for (int i = 0; i < _layers.Count; i++)
        {
            var fs = new LayerTreeFileSystem(_layers[i], image.Readers[i]);
            await using var tree = await Mounts.MountAsync(_dir, $"layer{i}", fs);
            var actual = TreeSnapshot.Take(tree.MountPoint);
            var expected = TarModel.Layer(_built.Layers[i].Tar);
            TreeSnapshot.AssertEqual(expected, actual, mtimes: true, what: $"layer {i}");

            // Inode numbers are the index's: entry index + 1.
            var some = _layers[i].Entries().First(e => e.Type == EntryType.Regular);
            Assert.Equal((ulong)some.Index + 1, actual[some.Path].Inode);
            // Setuid binaries and device nodes must work as in an unpacked layer: no nosuid/nodev.
            var mount = MountInfo.Find(tree.MountPoint)!;
            Assert.Equal("fuse.clip", mount.FileSystemType);
            Assert.DoesNotContain("nosuid", mount.Options.Split(','));
            Assert.DoesNotContain("nodev", mount.Options.Split(','));
            Assert.Contains("ro", mount.Options.Split(','));
        }
    }

    [RootFact]
    public async Task The_merged_tree_equals_a_full_unpack_by_umoci()
    {
        using var image = new LocalImage(_layout, _layers, _dir.Combine("cache"));
        await using var tree = await Mounts.MountAsync(_dir, "merged", new MergedTreeFileSystem(_layers, image.Readers));
        var actual = TreeSnapshot.Take(tree.MountPoint);
        TreeSnapshot.AssertEqual(await UnpackWithUmociAsync(), actual, what: "merged view vs umoci unpack");
        Assert.Equal(2u, actual["lib/libx.so"].LinkCount); // the third name was whited out in layer 3
        Assert.Equal(1u, actual["usr/bin/tool-alias"].LinkCount);
    }

    [RootFact]
    public async Task Node_ids_of_the_merged_tree_are_stable_across_mounts()
    {
        using var image = new LocalImage(_layout, _layers, _dir.Combine("cache"));
        var inodes = new List<Dictionary<string, ulong>>();
        for (int round = 0; round < 2; round++)
        {
            await using var tree = await Mounts.MountAsync(_dir, $"m{round}", new MergedTreeFileSystem(_layers, image.Readers));
            inodes.Add(TreeSnapshot.Take(tree.MountPoint).ToDictionary(kv => kv.Key, kv => kv.Value.Inode));
        }
        Assert.Equal(inodes[0], inodes[1]);
        var hosts = MergedTree.Build(_layers).Find("etc/hosts")!;
        Assert.Equal(MergedTreeFileSystem.NodeIdOf(hosts.Layer, hosts.Entry.Index).Value, inodes[0]["etc/hosts"]);
        Assert.Equal((2UL << 32) | ((ulong)hosts.Entry.Index + 1), inodes[0]["etc/hosts"]);
    }

    [RootFact]
    public async Task Layer_trees_stacked_by_kernel_overlayfs_give_the_merged_view()
    {
        using var image = new LocalImage(_layout, _layers, _dir.Combine("cache"));
        var trees = new List<MountedTree>();
        string? overlay = null;
        try
        {
            for (int i = 0; i < _layers.Count; i++)
            {
                // Each layer over the ones below it: implicit directories show the lower metadata, as containerd's unpack does.
                var fs = new LayerTreeFileSystem(_layers[i], image.Readers[i], _layers.Take(i).ToList());
                trees.Add(await Mounts.MountAsync(_dir, $"l{i}", fs));
            }
            overlay = Mounts.Overlay(_dir, "overlay", trees.Select(t => t.MountPoint).Reverse());
            var stacked = TreeSnapshot.Take(overlay);
            await using var merged = await Mounts.MountAsync(_dir, "merged", new MergedTreeFileSystem(_layers, image.Readers));
            var expected = TreeSnapshot.Take(merged.MountPoint);

            // overlayfs reports a lower file's own st_nlink, which counts the names of its layer (as with containerd's
            // overlayfs snapshotter over unpacked layers): compare link counts apart.
            var noLinks = (IReadOnlyDictionary<string, NodeInfo> t) => t.ToDictionary(kv => kv.Key, kv => kv.Value with { LinkCount = 0 });
            TreeSnapshot.AssertEqual(noLinks(expected), noLinks(stacked), mtimes: true, what: "overlay of layer trees vs merged tree");
            Assert.Equal(3u, stacked["lib/libx.so"].LinkCount);
            Assert.Equal(2u, expected["lib/libx.so"].LinkCount);
            Assert.Equal(2u, stacked["usr/bin/tool-alias"].LinkCount); // its layer-1 group (tool was replaced above)
            Assert.Equal(stacked["lib/libx.so"].Inode, stacked["lib/libx.so.1"].Inode);
            Assert.NotEqual((stacked["usr/bin/tool"].Device, stacked["usr/bin/tool"].Inode), (stacked["usr/bin/tool-alias"].Device, stacked["usr/bin/tool-alias"].Inode));
            Assert.Equal((0x1C0u, 33u), (stacked["srv"].Mode, stacked["srv"].Uid));
        }
        finally
        {
            if (overlay is not null) Mounts.Unmount(overlay);
            foreach (var t in trees) await t.UnmountAsync();
        }
    }

    [RootFact]
    public async Task A_registry_backed_merged_tree_reads_lazily_and_equals_the_unpack()
    {
        await using var registry = await RegistryServer.StartAsync();
        await registry.PushOciLayoutAsync(_layout, "rich", "fs/rich", "v1");
        using var client = new RegistryClient();
        var provider = new ImageIndexProvider(client, new IndexStore(_dir.Combine("indexes")), new LayerIndexOptions { SpanSize = 64 * 1024 });
        var image = await provider.GetImageAsync(Reference.Parse($"{registry.Address}/fs/rich:v1"));
        var options = new ContentOptions { CacheDirectory = _dir.Combine("rcache"), SmallLayerThreshold = 0 };
        var cache = new SpanCache(options.CacheDirectory, options.CacheMaxBytes);
        var stats = new ReadStatistics();
        var readers = image.Layers.Select(l => RemoteLayers.OpenReader(client, image.Resolved.Repository, l, cache, options, stats: stats)).ToList();
        await using var mounts = new LayerMounts();
        string mp = _dir.Combine("rmerged");
        Directory.CreateDirectory(mp);
        var tree = await mounts.MountImageAsync(mp, image.Layers, readers, "rich");

        // Listing and stat fetch nothing; one small file fetches a small part of the image.
        int paths = 0;
        foreach (var p in Directory.EnumerateFileSystemEntries(mp, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            _ = Clip.Interop.Libc.LStat(p);
            paths++;
        }
        Assert.True(paths > 30);
        Assert.Equal(0, stats.Fetches);
        Assert.Equal("127.0.0.1 localhost\n", await File.ReadAllTextAsync(Path.Combine(mp, "etc/hosts")));
        long total = image.Layers.Sum(l => l.CompressedSize);
        Assert.True(stats.Fetches > 0 && stats.FetchedBytes < total / 4, $"fetched {stats.FetchedBytes} of {total} bytes to read one small file");
        TreeSnapshot.AssertEqual(await UnpackWithUmociAsync(), TreeSnapshot.Take(mp), what: "registry-backed merged view vs umoci");
        await mounts.UnmountAsync(mp);
        Assert.True(tree.Completion.IsCompleted);
    }
}
