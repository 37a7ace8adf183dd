using Clip.Snapshots.Tests.Fakes;

namespace Clip.Snapshots.Tests;

/// <summary>What a start finds after a crash, and what it does about it.</summary>
public class RecoveryTests
{
    private static readonly Dictionary<string, string> NoLabels = [];

    [Fact]
    public async Task Start_removes_clips_own_leftovers_and_nothing_else()
    {
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        string active = (await s.PrepareAsync("a", "", NoLabels))[0].Source;
        File.WriteAllText(Path.Combine(active, "data"), "keep me");
        await s.PrepareAsync("c-a", "", NoLabels);
        await s.CommitAsync("c", "c-a", NoLabels);
        await s.DisposeAsync();

        // What crashes leave: a temp dir of a create, a half-deleted dir, an id dir whose row never committed.
        Directory.CreateDirectory(Path.Combine(root.SnapshotsDirectory, "new-123456", "fs"));
        Directory.CreateDirectory(Path.Combine(root.SnapshotsDirectory, "rm-abcdef", "fs"));
        Directory.CreateDirectory(Path.Combine(root.SnapshotsDirectory, "999", "fs"));
        Directory.CreateDirectory(Path.Combine(root.SnapshotsDirectory, "not-clips"));

        var s2 = await root.OpenAsync();
        Assert.Equal(["1", "2", "not-clips"], root.Entries());
        Assert.Equal("keep me", File.ReadAllText(Path.Combine(active, "data")));
        Assert.Equal(SnapshotKind.Committed, (await s2.StatAsync("c")).Kind);
    }

    [Fact]
    public async Task With_a_new_database_unknown_id_directories_are_kept()
    {
        await using var root = new SnapshotterRoot();
        Directory.CreateDirectory(Path.Combine(root.SnapshotsDirectory, "7", "fs"));
        Directory.CreateDirectory(Path.Combine(root.SnapshotsDirectory, "new-1"));
        await root.OpenAsync();
        Assert.Equal(["7"], root.Entries()); // a lost database must never cost data
    }

    [Fact]
    public async Task A_second_snapshotter_on_the_same_root_is_refused()
    {
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => root.OpenAsync());
        Assert.Contains("in use", e.Message);
        await s.DisposeAsync();
        await root.OpenAsync(); // the lock goes with the first one
    }

    [Fact]
    public async Task Cleanup_removes_unowned_directories()
    {
        await using var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        await s.PrepareAsync("a", "", NoLabels);
        Directory.CreateDirectory(Path.Combine(root.SnapshotsDirectory, "55", "fs"));
        await s.CleanupAsync();
        Assert.Equal(["1"], root.Entries());
    }
}
