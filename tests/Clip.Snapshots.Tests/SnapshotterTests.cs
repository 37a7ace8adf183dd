using Clip.Snapshots.Tests.Fakes;

namespace Clip.Snapshots.Tests;

/// <summary>containerd's snapshotter contract, as the overlayfs snapshotter implements it.</summary>
public class SnapshotterTests
{
    private static readonly Dictionary<string, string> NoLabels = [];

    [Fact]
    public async Task Prepare_without_parent_gives_a_writable_rbind_of_its_fs_dir()
    {
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        var mounts = await s.PrepareAsync("a", "", NoLabels);
        var m = Assert.Single(mounts);
        Assert.Equal("bind", m.Type);
        Assert.Equal(["rw", "rbind"], m.Options);
        Assert.Matches(@"/snapshots/\d+/fs$", m.Source);
        Assert.True(Directory.Exists(m.Source));
        Assert.True(Directory.Exists(Path.Combine(Path.GetDirectoryName(m.Source)!, "work")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead |
            UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute, File.GetUnixFileMode(m.Source));
    }

    [Fact]
    public async Task Active_on_a_chain_gets_an_overlay_with_lowerdirs_newest_first()
    {
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        string l1 = (await s.PrepareAsync("l1-a", "", NoLabels))[0].Source;
        await s.CommitAsync("l1", "l1-a", NoLabels);
        string l2 = (await s.PrepareAsync("l2-a", "l1", NoLabels))[0].Options.Single(o => o.StartsWith("upperdir=", StringComparison.Ordinal))["upperdir=".Length..];
        await s.CommitAsync("l2", "l2-a", NoLabels);

        var m = Assert.Single(await s.PrepareAsync("c", "l2", NoLabels));
        Assert.Equal("overlay", m.Type);
        Assert.Equal("overlay", m.Source);
        Assert.StartsWith("workdir=", m.Options[0]);
        Assert.StartsWith("upperdir=", m.Options[1]);
        Assert.Equal($"lowerdir={l2}:{l1}", m.Options[2]);
    }

    [Fact]
    public async Task Views_are_read_only_bind_of_a_single_parent_or_lowerdir_only_overlay()
    {
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        string l1 = (await s.PrepareAsync("l1-a", "", NoLabels))[0].Source;
        await s.CommitAsync("l1", "l1-a", NoLabels);

        var single = Assert.Single(await s.ViewAsync("v1", "l1", NoLabels));
        Assert.Equal(("bind", l1), (single.Type, single.Source));
        Assert.Equal(["ro", "rbind"], single.Options);

        await s.PrepareAsync("l2-a", "l1", NoLabels);
        await s.CommitAsync("l2", "l2-a", NoLabels);
        var two = Assert.Single(await s.ViewAsync("v2", "l2", NoLabels));
        Assert.Equal("overlay", two.Type);
        Assert.Single(two.Options);
        Assert.StartsWith("lowerdir=", two.Options[0]);

        var empty = Assert.Single(await s.ViewAsync("v0", "", NoLabels));
        Assert.Equal(["ro", "rbind"], empty.Options);
        Assert.Equal(two.ToString(), Assert.Single(await s.MountsAsync("v2")).ToString());
    }

    [Fact]
    public async Task Commit_keeps_the_directory_replaces_labels_and_records_usage()
    {
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        string fs = (await s.PrepareAsync("a", "", new Dictionary<string, string> { ["old"] = "x" }))[0].Source;
        File.WriteAllBytes(Path.Combine(fs, "file"), new byte[10000]);
        var before = await s.UsageAsync("a");
        Assert.True(before.Size >= 10000);
        Assert.Equal(2, before.Inodes); // the root and the file

        await s.CommitAsync("c", "a", new Dictionary<string, string> { ["new"] = "y" });
        var info = await s.StatAsync("c");
        Assert.Equal(SnapshotKind.Committed, info.Kind);
        Assert.Equal(new Dictionary<string, string> { ["new"] = "y" }, info.Labels);
        Assert.Equal(info.CreatedUtc, info.UpdatedUtc);
        Assert.Equal(before, await s.UsageAsync("c"));
        Assert.True(File.Exists(Path.Combine(fs, "file")));
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => s.StatAsync("a"));
    }

    [Fact]
    public async Task Usage_counts_hard_links_once()
    {
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        string fs = (await s.PrepareAsync("a", "", NoLabels))[0].Source;
        File.WriteAllBytes(Path.Combine(fs, "f"), new byte[8192]);
        File.CreateSymbolicLink(Path.Combine(fs, ".hidden-link"), "f");
        Assert.Equal(0, Clip.Testing.Proc.RunAsync("ln", Path.Combine(fs, "f"), Path.Combine(fs, "g")).Result.ExitCode);
        var u = await s.UsageAsync("a");
        Assert.Equal(3, u.Inodes); // root, f (= g), the symlink
    }

    [Fact]
    public async Task Errors_fall_in_containerds_classes()
    {
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        await s.PrepareAsync("a", "", NoLabels);
        await Assert.ThrowsAsync<SnapshotAlreadyExistsException>(() => s.PrepareAsync("a", "", NoLabels));
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => s.PrepareAsync("b", "missing", NoLabels));
        await Assert.ThrowsAsync<SnapshotInvalidArgumentException>(() => s.PrepareAsync("b", "a", NoLabels)); // parent not committed
        await Assert.ThrowsAsync<SnapshotInvalidArgumentException>(() => s.PrepareAsync("", "", NoLabels));
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => s.CommitAsync("c", "missing", NoLabels));
        await s.CommitAsync("c", "a", NoLabels);
        await Assert.ThrowsAsync<SnapshotFailedPreconditionException>(() => s.MountsAsync("c"));
        await Assert.ThrowsAsync<SnapshotAlreadyExistsException>(() => s.PrepareAsync("c", "", NoLabels));
        await s.ViewAsync("v", "c", NoLabels);
        await Assert.ThrowsAsync<SnapshotFailedPreconditionException>(() => s.CommitAsync("c2", "v", NoLabels)); // a view is not active
        await s.PrepareAsync("a2", "", NoLabels);
        await Assert.ThrowsAsync<SnapshotAlreadyExistsException>(() => s.CommitAsync("c", "a2", NoLabels));
        await Assert.ThrowsAsync<SnapshotFailedPreconditionException>(() => s.RemoveAsync("c")); // has a child
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => s.RemoveAsync("missing"));
        await Assert.ThrowsAsync<SnapshotInvalidArgumentException>(() =>
            s.PrepareAsync("big", "", new Dictionary<string, string> { ["k"] = new string('x', 4096) }));
    }

    [Fact]
    public async Task Remove_deletes_the_directory_and_frees_the_key()
    {
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        string fs = (await s.PrepareAsync("a", "", NoLabels))[0].Source;
        await s.RemoveAsync("a");
        Assert.False(Directory.Exists(Path.GetDirectoryName(fs)));
        Assert.Empty(root.Entries());
        await s.PrepareAsync("a", "", NoLabels);
    }

    [Fact]
    public async Task Commit_with_parent_rebases_only_a_parentless_active()
    {
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        await s.PrepareAsync("base-a", "", NoLabels);
        await s.CommitAsync("base", "base-a", NoLabels);

        await s.PrepareAsync("free", "", NoLabels);
        await s.CommitAsync("rebased", "free", NoLabels, parent: "base");
        Assert.Equal("base", (await s.StatAsync("rebased")).Parent);

        await s.PrepareAsync("child", "base", NoLabels);
        await s.CommitAsync("same", "child", NoLabels, parent: "base"); // same parent: fine
        await s.PrepareAsync("other", "", NoLabels);
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => s.CommitAsync("x", "other", NoLabels, parent: "nope"));
        await s.PrepareAsync("child2", "base", NoLabels);
        await Assert.ThrowsAsync<SnapshotInvalidArgumentException>(() => s.CommitAsync("y", "child2", NoLabels, parent: "rebased"));
    }

    [Fact]
    public async Task List_applies_containerd_filters()
    {
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        await s.PrepareAsync("p-tmp", "", NoLabels);
        await s.CommitAsync("p", "p-tmp", new Dictionary<string, string> { ["containerd.io/snapshot.ref"] = "sha256:aa" });
        await s.PrepareAsync("a", "p", new Dictionary<string, string> { ["l"] = "2" });
        await s.ViewAsync("v", "p", NoLabels);

        async Task<string[]> Names(params string[] filters) => (await s.ListAsync(filters)).Select(i => i.Name).Order().ToArray();
        Assert.Equal(["a", "p", "v"], await Names());
        Assert.Equal(["a", "v"], await Names("parent==p"));
        Assert.Equal(["a"], await Names("kind==active"));
        Assert.Equal(["a", "v"], await Names("kind==active", "kind==view"));
        Assert.Equal(["a"], await Names("labels.l==2"));
        Assert.Equal(["p"], await Names("labels.\"containerd.io/snapshot.ref\"==sha256:aa,parent==\"\""));
        await Assert.ThrowsAsync<SnapshotInvalidArgumentException>(() => Names("kind=="));
    }
}
