using System.Diagnostics;
using Clip.Content;
using Clip.FileSystem.Tests.Support;
using Clip.Fuse;
using Clip.Gzip;
using Clip.Index;
using Clip.Index.Build;
using Clip.Oci;
using Clip.Testing;

namespace Clip.FileSystem.Tests;

/// <summary>Serving under load and taking mounts away: concurrent readers, busy unmounts, the LayerMounts contract, big directories.</summary>
public sealed class ServingTests : IDisposable
{
    private readonly TempDir _dir = new("clip-fss");

    public void Dispose()
    {
        try
        {
            Mounts.AssertNothingMountedUnder(_dir.Path);
        }
        finally
        {
            _dir.Dispose();
        }
    }

    /// <summary>A one-layer gzip image of <paramref name="files"/>, indexed with small spans; returns the layer index and blob path.</summary>
    private async Task<(LayerIndex Layer, string Blob)> LayerAsync(LayerBuilder builder, long spanSize = 128 * 1024)
    {
        var blob = builder.BuildGzip();
        string path = _dir.Combine("blob-" + Guid.NewGuid().ToString("N")[..8]);
        await File.WriteAllBytesAsync(path, blob);
        var index = await LayerIndexer.IndexAsync(new MemoryStream(blob), Digest.Sha256(blob), MediaTypes.OciLayerGzip, blob.Length,
            new LayerIndexOptions { SpanSize = spanSize });
        return (index, path);
    }

    [RootFact]
    public async Task Sixty_four_concurrent_readers_of_random_files_get_the_right_bytes()
    {
        var rng = new Random(64);
        var files = new Dictionary<string, byte[]>();
        var builder = new LayerBuilder().Dir("d");
        for (int i = 0; i < 48; i++)
        {
            var data = TestImages.RandomBytes(rng.Next(0, 1_500_000), 100 + i);
            files[$"d/f{i:00}"] = data;
            builder.File($"d/f{i:00}", data);
        }
        var (layer, blob) = await LayerAsync(builder);
        using var source = new FileRangeSource(blob);
        var options = new ContentOptions { CacheDirectory = _dir.Combine("cache"), SmallLayerThreshold = 0 };
        using var reader = new LayerReader(layer, source, new SpanCache(options.CacheDirectory, options.CacheMaxBytes), options);
        await using var tree = await Mounts.MountAsync(_dir, "mnt", new LayerTreeFileSystem(layer, reader));

        var names = files.Keys.ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var readers = Enumerable.Range(0, 64).Select(r => Task.Run(async () =>
        {
            var local = new Random(r);
            for (int k = 0; k < 25; k++)
            {
                string name = names[local.Next(names.Length)];
                var expected = files[name];
                long offset = expected.Length == 0 ? 0 : local.NextInt64(expected.Length);
                int length = local.Next(1, 600_000);
                using var handle = File.OpenHandle(Path.Combine(tree.MountPoint, name));
                var buffer = new byte[length];
                int got = 0;
                while (got < length)
                {
                    int n = await RandomAccess.ReadAsync(handle, buffer.AsMemory(got), offset + got);
                    if (n == 0) break;
                    got += n;
                }
                int want = (int)Math.Max(0, Math.Min(length, expected.Length - offset));
                if (got != want || !buffer.AsSpan(0, got).SequenceEqual(expected.AsSpan((int)offset, want)))
                    failures.Add($"{name} @{offset}+{length}: got {got} bytes, wanted {want}");
            }
        })).ToArray();
        await Task.WhenAll(readers).WaitAsync(TimeSpan.FromMinutes(3));
        Assert.Empty(failures);
        Assert.Equal(0, tree.Server.Statistics.Failures);
    }

    /// <summary>A blob source that holds every read until released (a registry that stalls).</summary>
    private sealed class StallingSource(IRangeSource inner) : IRangeSource
    {
        public readonly TaskCompletionSource Release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource Stalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public long Length => inner.Length;

        public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
        {
            Stalled.TrySetResult();
            await Release.Task.WaitAsync(cancellationToken);
            await inner.ReadAsync(offset, destination, cancellationToken);
        }
    }

    [RootFact]
    public async Task Unmounting_a_busy_tree_returns_promptly_leaves_no_mount_and_ends_the_server()
    {
        var (layer, blob) = await LayerAsync(new LayerBuilder().File("slow", TestImages.RandomBytes(500_000, 1)).File("open", "kept open\n"));
        using var file = new FileRangeSource(blob);
        var stalling = new StallingSource(file);
        var options = new ContentOptions { CacheDirectory = _dir.Combine("cache"), SmallLayerThreshold = 0 };
        var reader = new LayerReader(layer, stalling, new SpanCache(options.CacheDirectory, options.CacheMaxBytes), options);
        var mountOptions = new TreeMountOptions { BusyGrace = TimeSpan.FromMilliseconds(500), Server = new FuseServerOptions { DrainTimeout = TimeSpan.FromSeconds(1) } };
        await using var mounts = new LayerMounts(mountOptions);
        string mp = _dir.Combine("busy");
        Directory.CreateDirectory(mp);
        var tree = await mounts.MountLayerAsync(mp, layer, reader);

        // One process holds a file open; another is stuck in a READ the registry never answers.
        var held = File.OpenHandle(Path.Combine(mp, "open"));
        var stuck = Task.Run(() =>
        {
            try
            {
                File.ReadAllBytes(Path.Combine(mp, "slow"));
                return "read completed";
            }
            catch (IOException e)
            {
                return "failed: " + e.Message;
            }
        });
        await stalling.Stalled.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var sw = Stopwatch.StartNew();
        Assert.True(await mounts.UnmountAsync(mp));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"unmount took {sw.Elapsed}");
        Assert.False(MountInfo.IsMounted(mp) && MountInfo.Find(mp)!.FileSystemType.StartsWith("fuse"));
        Assert.True(tree.Completion.IsCompleted);
        Assert.True(tree.Server.Completion.IsCompleted);
        Assert.StartsWith("failed", await stuck.WaitAsync(TimeSpan.FromSeconds(10)));  // ENOTCONN, not a hang
        held.Dispose();
        Assert.Null(mounts.Find(mp));
    }

    private sealed class Flag : IDisposable
    {
        public int Disposed;
        public void Dispose() => Interlocked.Increment(ref Disposed);
    }

    [RootFact]
    public async Task LayerMounts_serves_checks_and_forgets_trees_and_releases_what_they_own()
    {
        var (layer, blob) = await LayerAsync(new LayerBuilder().File("a", "a\n"));
        using var source = new FileRangeSource(blob);
        var options = new ContentOptions { CacheDirectory = _dir.Combine("cache"), SmallLayerThreshold = 0 };
        using var reader = new LayerReader(layer, source, new SpanCache(options.CacheDirectory, options.CacheMaxBytes), options);
        await using var mounts = new LayerMounts();
        string mp = _dir.Combine("m");
        Directory.CreateDirectory(mp);

        var owned = new Flag();
        var tree = await mounts.MountAsync(mp, new LayerTreeFileSystem(layer, reader), "test", owned: [owned]);
        mounts.Check(mp);
        Assert.True(tree.IsServing);
        Assert.Equal("a\n", File.ReadAllText(Path.Combine(mp, "a")));

        // A second tree at the same place is refused, and what it would have owned is released.
        var other = new Flag();
        await Assert.ThrowsAsync<InvalidOperationException>(() => mounts.MountAsync(mp, new LayerTreeFileSystem(layer, reader), "again", owned: [other]));
        Assert.Equal(1, other.Disposed);

        // Someone else unmounts it: the check fails, the tree is forgotten, its resources released once.
        Mounts.Unmount(mp);
        await tree.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Throws<IOException>(() => mounts.Check(mp));
        Assert.Equal(1, owned.Disposed);
        Assert.False(await mounts.UnmountAsync(mp));

        // A failed mount leaves nothing mounted and releases what it was handed.
        var failed = new Flag();
        await Assert.ThrowsAnyAsync<Exception>(() => mounts.MountAsync(_dir.Combine("missing-dir"), new LayerTreeFileSystem(layer, reader), "x", owned: [failed]));
        Assert.Equal(1, failed.Disposed);
        Assert.Empty(mounts.Mounts);
    }

    [RootFact]
    public async Task A_large_directory_lists_completely_through_many_readdir_calls()
    {
        var builder = new LayerBuilder().Dir("big");
        var expected = new List<string>();
        for (int i = 0; i < 3000; i++)
        {
            string name = $"file-{i:0000}-{new string('x', i % 40)}";
            expected.Add(name);
            builder.File("big/" + name, "");
        }
        var (layer, blob) = await LayerAsync(builder);
        using var source = new FileRangeSource(blob);
        var options = new ContentOptions { CacheDirectory = _dir.Combine("cache") };
        using var reader = new LayerReader(layer, source, new SpanCache(options.CacheDirectory, options.CacheMaxBytes), options);
        // Plain READDIR (no attributes) and READDIRPLUS both resume by cookie.
        foreach (var plus in new[] { ReaddirPlusMode.Always, ReaddirPlusMode.Never })
        {
            var treeOptions = new TreeMountOptions { Server = new FuseServerOptions { ReaddirPlus = plus } };
            await using var tree = await Mounts.MountAsync(_dir, $"big-{plus}", new LayerTreeFileSystem(layer, reader), treeOptions);
            var names = Directory.EnumerateFileSystemEntries(Path.Combine(tree.MountPoint, "big")).Select(Path.GetFileName).ToList();
            Assert.Equal(expected.Order(StringComparer.Ordinal), names);
            var ls = (await Proc.RunAsync("ls", "-a1f", Path.Combine(tree.MountPoint, "big"))).EnsureSuccess("ls");
            var lines = ls.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(3002, lines.Length);
            Assert.Equal([".", ".."], lines[..2]);
        }
    }
}
