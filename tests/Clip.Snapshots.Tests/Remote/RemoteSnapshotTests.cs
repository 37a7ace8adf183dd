using Clip.Snapshots.Remote;
using Clip.Snapshots.Tests.Fakes;

namespace Clip.Snapshots.Tests.Remote;

/// <summary>The remote flow against a fake lazy filesystem.</summary>
public class RemoteSnapshotTests
{
    private const string L1 = "sha256:1111", L2 = "sha256:2222";
    private const string Chain1 = "sha256:c1", Chain2 = "sha256:c2";

    private static FakeRemoteLayerFileSystem Fs(bool bind = false)
    {
        var fs = new FakeRemoteLayerFileSystem { UseBindMounts = bind };
        fs.AddLayer(L1, new Dictionary<string, string> { ["bin/hello"] = "one", ["etc/os-release"] = "clip" });
        fs.AddLayer(L2, new Dictionary<string, string> { ["bin/hello"] = "two" });
        return fs;
    }

    /// <summary>What containerd's unpacker does per layer: Prepare with the target, and on AlreadyExists move on.</summary>
    private static async Task<string> PullLayerAsync(Snapshotter s, string key, string parent, Dictionary<string, string> labels)
    {
        try
        {
            await s.PrepareAsync(key, parent, labels);
            return "prepared";
        }
        catch (SnapshotAlreadyExistsException)
        {
            return "exists";
        }
    }

    [Fact]
    public async Task Prepare_with_image_labels_commits_the_target_itself_and_answers_already_exists()
    {
        using var fs = Fs();
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);

        var e = await Assert.ThrowsAsync<SnapshotAlreadyExistsException>(() => s.PrepareAsync("extract-1", "", CriLabels.For(Chain1, L1)));
        Assert.Contains(Chain1, e.Message);

        var info = await s.StatAsync(Chain1);
        Assert.Equal(SnapshotKind.Committed, info.Kind);
        Assert.Equal("", info.Parent);
        Assert.Equal(RemoteLabels.RemoteValue, info.Labels[RemoteLabels.Remote]);
        Assert.Equal(Chain1, info.Labels[RemoteLabels.TargetSnapshotRef]);
        Assert.Equal(L1, info.Labels[RemoteLabels.CriLayerDigest]);
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => s.StatAsync("extract-1"));
        // containerd's metadata layer then finds it with exactly this filter:
        var found = await s.ListAsync([$"labels.\"containerd.io/snapshot.ref\"=={Chain1},parent==\"\""]);
        Assert.Equal(Chain1, Assert.Single(found).Name);
        Assert.Single(fs.Mounted);
    }

    [Fact]
    public async Task Children_stack_remote_trees_as_lowerdirs()
    {
        using var fs = Fs();
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);
        Assert.Equal("exists", await PullLayerAsync(s, "x1", "", CriLabels.For(Chain1, L1)));
        Assert.Equal("exists", await PullLayerAsync(s, "x2", Chain1, CriLabels.For(Chain2, L2)));

        var m = Assert.Single(await s.PrepareAsync("container", Chain2, null));
        string lower = m.Options.Single(o => o.StartsWith("lowerdir=", StringComparison.Ordinal))["lowerdir=".Length..];
        var dirs = lower.Split(':');
        Assert.Equal(2, dirs.Length);
        Assert.Equal("two", File.ReadAllText(Path.Combine(dirs[0], "bin/hello")));
        Assert.Equal("one", File.ReadAllText(Path.Combine(dirs[1], "bin/hello")));
        Assert.Equal(fs.Mounted.Keys.Order(), dirs.Order());
        Assert.Contains(fs.Calls, c => c.StartsWith("check ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_second_prepare_of_an_existing_target_answers_already_exists_without_mounting_again()
    {
        using var fs = Fs();
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);
        await PullLayerAsync(s, "x1", "", CriLabels.For(Chain1, L1));
        int mounts = fs.Calls.Count(c => c.StartsWith("mount", StringComparison.Ordinal));
        Assert.Equal("exists", await PullLayerAsync(s, "x1-again", "", CriLabels.For(Chain1, L1)));
        Assert.Equal(mounts, fs.Calls.Count(c => c.StartsWith("mount", StringComparison.Ordinal)));
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => s.StatAsync("x1-again"));
    }

    [Fact]
    public async Task Two_concurrent_prepares_of_one_target_both_end_in_already_exists()
    {
        using var fs = Fs();
        fs.MountGate = new TaskCompletionSource(); // hold both mounts until both Prepares are in flight
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);
        var first = PullLayerAsync(s, "image-a/extract", "", CriLabels.For(Chain1, L1));
        var second = PullLayerAsync(s, "image-b/extract", "", CriLabels.For(Chain1, L1));
        while (fs.Calls.Count(c => c.StartsWith("mount", StringComparison.Ordinal)) < 2) await Task.Delay(10);
        fs.MountGate.SetResult();
        Assert.Equal(["exists", "exists"], await Task.WhenAll(first, second));
        Assert.Single(fs.Mounted);
        Assert.Equal([Chain1], (await s.ListAsync([])).Select(i => i.Name)); // the loser's active snapshot is gone
        Assert.Single(root.Entries());
    }

    [Theory]
    [InlineData("not-servable")]
    [InlineData("broken")]
    [InlineData("unknown")]
    public async Task A_layer_that_cannot_be_served_lazily_becomes_a_normal_snapshot(string why)
    {
        using var fs = Fs();
        if (why == "not-servable") fs.NotServable[L1] = true;
        if (why == "broken") fs.Broken[L1] = true;
        string digest = why == "unknown" ? "sha256:9999" : L1;
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);

        var m = Assert.Single(await s.PrepareAsync("extract", "", CriLabels.For(Chain1, digest)));
        Assert.Equal("bind", m.Type);
        Assert.Empty(Directory.EnumerateFileSystemEntries(m.Source));
        Assert.Empty(fs.Mounted);
        var info = await s.StatAsync("extract");
        Assert.Equal(SnapshotKind.Active, info.Kind);
        Assert.False(info.Labels.ContainsKey(RemoteLabels.Remote));
        // containerd fills and commits it as usual.
        File.WriteAllText(Path.Combine(m.Source, "f"), "unpacked");
        await s.CommitAsync("ns/1/" + Chain1, "extract", CriLabels.For(Chain1, digest));
        Assert.True((await s.UsageAsync("ns/1/" + Chain1)).Size > 0);
    }

    [Fact]
    public async Task Without_image_labels_a_chain_id_the_filesystem_knows_is_served_the_same_way()
    {
        using var fs = Fs();
        fs.AddResolvable(Chain1, L1);
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);
        var labels = new Dictionary<string, string> { [RemoteLabels.TargetSnapshotRef] = Chain1 };
        Assert.Equal("exists", await PullLayerAsync(s, "x", "", labels));
        Assert.Equal(RemoteLabels.RemoteValue, (await s.StatAsync(Chain1)).Labels[RemoteLabels.Remote]);

        // A chain id nobody knows: the ordinary path.
        labels[RemoteLabels.TargetSnapshotRef] = Chain2;
        Assert.Equal("prepared", await PullLayerAsync(s, "y", Chain1, labels));
    }

    [Fact]
    public async Task Usage_of_a_remote_snapshot_is_what_the_filesystem_reports()
    {
        using var fs = Fs();
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);
        await PullLayerAsync(s, "x", "", CriLabels.For(Chain1, L1));
        Assert.Equal(new SnapshotUsage(3 + 4, 2), await s.UsageAsync(Chain1));
    }

    [Fact]
    public async Task Remove_unmounts_the_layer_tree_and_deletes_the_directory()
    {
        using var fs = Fs();
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);
        await PullLayerAsync(s, "x", "", CriLabels.For(Chain1, L1));
        string mountpoint = Assert.Single(fs.Mounted.Keys);
        await s.RemoveAsync(Chain1);
        Assert.Empty(fs.Mounted);
        Assert.Contains($"unmount {mountpoint}", fs.Calls);
        Assert.Empty(root.Entries());
    }

    [Fact]
    public async Task Restart_restores_every_remote_layer()
    {
        using var fs = Fs();
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);
        await PullLayerAsync(s, "x1", "", CriLabels.For(Chain1, L1));
        await PullLayerAsync(s, "x2", Chain1, CriLabels.For(Chain2, L2));
        await s.PrepareAsync("container", Chain2, null);
        await s.DisposeAsync();
        foreach (string mp in fs.Mounted.Keys) fs.Kill(mp); // the serving process died with the daemon

        using var fs2 = Fs();
        var s2 = await root.OpenAsync(fs2);
        Assert.Equal(2, fs2.Mounted.Count);
        Assert.Equal(2, s2.RemoteStatistics.Restored);
        var m = Assert.Single(await s2.MountsAsync("container"));
        string lower = m.Options.Single(o => o.StartsWith("lowerdir=", StringComparison.Ordinal));
        Assert.All(fs2.Mounted.Keys, mp => Assert.Contains(mp, lower));
    }

    [Fact]
    public async Task A_layer_that_cannot_be_restored_is_tolerated_marked_and_retried_on_use()
    {
        using var fs = Fs();
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);
        await PullLayerAsync(s, "x1", "", CriLabels.For(Chain1, L1));
        await PullLayerAsync(s, "x2", Chain1, CriLabels.For(Chain2, L2));
        await s.PrepareAsync("plain", "", null);
        await s.DisposeAsync();

        using var fs2 = Fs();
        fs2.Broken[L1] = true; // the registry is down for layer 1
        var s2 = await root.OpenAsync(fs2);
        Assert.Single(fs2.Mounted); // layer 2 restored, layer 1 not, and the start went on
        Assert.Equal(1, s2.RemoteStatistics.RestoreFailed);
        Assert.Equal((1, 1), (s2.Counts().RemoteMounted, s2.Counts().RemoteUnavailable));
        Assert.Equal(SnapshotKind.Active, (await s2.StatAsync("plain")).Kind); // normal snapshots untouched
        Assert.Equal(SnapshotKind.Committed, (await s2.StatAsync(Chain1)).Kind);

        // Its children cannot be mounted while it is missing...
        await Assert.ThrowsAsync<SnapshotFailedPreconditionException>(() => s2.PrepareAsync("c", Chain2, null));
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => s2.StatAsync("c"));
        // ...and can once it is back.
        fs2.Broken.Clear();
        await s2.PrepareAsync("c", Chain2, null);
        Assert.Equal((2, 0), (s2.Counts().RemoteMounted, s2.Counts().RemoteUnavailable));
    }

    [Fact]
    public async Task A_layer_whose_server_died_is_remounted_before_a_child_is_mounted()
    {
        using var fs = Fs();
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);
        await PullLayerAsync(s, "x1", "", CriLabels.For(Chain1, L1));
        string mp = Assert.Single(fs.Mounted.Keys);
        fs.Kill(mp);
        await s.PrepareAsync("c", Chain1, null);
        Assert.True(fs.Mounted.ContainsKey(mp));
        Assert.Equal("one", File.ReadAllText(Path.Combine(mp, "bin/hello")));
    }

    [Fact]
    public async Task A_crash_during_the_lazy_mount_is_undone_at_start()
    {
        using var fs = Fs();
        fs.MountGate = new TaskCompletionSource(); // the mount never finishes: the daemon "dies" here
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);
        var parked = s.PrepareAsync("extract", "", CriLabels.For(Chain1, L1));
        await Task.Delay(200);
        Assert.False(parked.IsCompleted);
        await s.DisposeAsync(); // the process is gone: its root lock and database handles with it

        using var fs2 = Fs();
        var s2 = await root.OpenAsync(fs2); // a new process on the same root
        Assert.Empty(fs2.Mounted);
        var info = await s2.StatAsync("extract");
        Assert.Equal(SnapshotKind.Active, info.Kind); // an ordinary, empty active snapshot that containerd's GC will collect
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => s2.StatAsync(Chain1));
        Assert.Equal((0, 0), (s2.Counts().RemoteMounted, s2.Counts().RemoteUnavailable));
        Assert.Contains(fs2.Calls, c => c.StartsWith("unmount ", StringComparison.Ordinal));
        fs.MountGate.SetCanceled();
    }
}
