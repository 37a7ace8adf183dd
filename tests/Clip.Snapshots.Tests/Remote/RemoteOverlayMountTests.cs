using Clip.Interop;
using Clip.Snapshots.Tests.Fakes;
using Clip.Testing;

namespace Clip.Snapshots.Tests.Remote;

/// <summary>With real mounts: remote trees bind-mounted by the fake work as overlay lowerdirs, and are cleaned up.</summary>
public class RemoteOverlayMountTests
{
    [RootFact]
    public async Task A_container_rootfs_over_remote_layers_shows_the_merged_tree()
    {
        using var fs = new FakeRemoteLayerFileSystem { UseBindMounts = true };
        fs.AddLayer("sha256:l1", new Dictionary<string, string> { ["bin/hello"] = "one", ["etc/a"] = "a" });
        fs.AddLayer("sha256:l2", new Dictionary<string, string> { ["bin/hello"] = "two" });
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);
        await Assert.ThrowsAsync<SnapshotAlreadyExistsException>(() => s.PrepareAsync("x1", "", CriLabels.For("sha256:c1", "sha256:l1")));
        await Assert.ThrowsAsync<SnapshotAlreadyExistsException>(() => s.PrepareAsync("x2", "sha256:c1", CriLabels.For("sha256:c2", "sha256:l2")));
        var m = Assert.Single(await s.PrepareAsync("ctr", "sha256:c2", null));

        using var target = new TempDir("clip-rootfs");
        Libc.Mount(m.Source, target.Path, m.Type, 0, string.Join(',', m.Options));
        try
        {
            Assert.Equal("two", File.ReadAllText(target.Combine("bin", "hello")));
            Assert.Equal("a", File.ReadAllText(target.Combine("etc", "a")));
            File.WriteAllText(target.Combine("etc", "a"), "written"); // copy-up into the upper dir
        }
        finally
        {
            Libc.TryUnmount(target.Path, 0);
        }
        Assert.Equal("a", File.ReadAllText(Path.Combine(fs.Mounted.Keys.Single(k => File.Exists(Path.Combine(k, "etc/a"))), "etc/a")));

        await s.RemoveAsync("ctr");
        await s.RemoveAsync("sha256:c2");
        await s.RemoveAsync("sha256:c1");
        Assert.Empty(fs.Mounted);
        Assert.Empty(root.Entries());
    }

    [RootFact]
    public async Task Start_detaches_leftover_mounts_before_deleting_anything()
    {
        using var fs = new FakeRemoteLayerFileSystem { UseBindMounts = true };
        fs.AddLayer("sha256:l1", new Dictionary<string, string> { ["f"] = "data" });
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync(fs);
        await Assert.ThrowsAsync<SnapshotAlreadyExistsException>(() => s.PrepareAsync("x1", "", CriLabels.For("sha256:c1", "sha256:l1")));
        string mp = fs.Mounted.Keys.Single();
        // The snapshot is removed from the database by a crash between commit and unmount: simulate by a
        // leftover id directory that still has the bind mount inside.
        using var source = new TempDir("clip-src");
        File.WriteAllText(source.Combine("precious"), "must survive");
        string orphan = Path.Combine(root.SnapshotsDirectory, "900", "fs");
        Directory.CreateDirectory(orphan);
        Libc.Mount(source.Path, orphan, null, Libc.MS_BIND, null);
        await s.DisposeAsync();

        using var fs2 = new FakeRemoteLayerFileSystem { UseBindMounts = true };
        fs2.AddLayer("sha256:l1", new Dictionary<string, string> { ["f"] = "data" });
        var s2 = await root.OpenAsync(fs2);
        Assert.Equal("must survive", File.ReadAllText(source.Combine("precious"))); // detached, not deleted through
        Assert.False(Directory.Exists(Path.Combine(root.SnapshotsDirectory, "900")));
        Assert.Equal("data", File.ReadAllText(Path.Combine(mp, "f"))); // restored
        await s2.RemoveAsync("sha256:c1");
    }
}
