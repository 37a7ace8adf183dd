using Clip.Snapshots.Tests.Fakes;

namespace Clip.Snapshots.Tests;

/// <summary>Update's field-mask rules (containerd storage.UpdateInfo): only labels are mutable.</summary>
public class UpdateTests
{
    private static Dictionary<string, string> L(params (string K, string V)[] kv) => kv.ToDictionary(p => p.K, p => p.V);

    private static async Task<(SnapshotterRoot, Snapshotter, SnapshotInfo)> SetUp()
    {
        var root = new SnapshotterRoot();
        var s = await root.OpenAsync();
        await s.PrepareAsync("a", "", L(("l1", "v1"), ("l2", "v2"), ("l3", "v3")));
        return (root, s, await s.StatAsync("a"));
    }

    [Fact]
    public async Task Empty_mask_replaces_all_labels_and_moves_only_updated()
    {
        var (root, s, info) = await SetUp();
        await using var _ = root;
        var updated = await s.UpdateAsync(info with { Labels = L(("x", "1")), Parent = "ignored", Kind = SnapshotKind.Committed }, []);
        Assert.Equal(L(("x", "1")), updated.Labels);
        Assert.Equal("", updated.Parent);
        Assert.Equal(SnapshotKind.Active, updated.Kind);
        Assert.Equal(info.CreatedUtc, updated.CreatedUtc);
        Assert.True(updated.UpdatedUtc > info.UpdatedUtc);
        Assert.Equal(updated, await s.StatAsync("a") with { Labels = updated.Labels });
        Assert.Equal(L(("x", "1")), (await s.StatAsync("a")).Labels);
    }

    [Fact]
    public async Task Label_paths_set_or_delete_single_labels()
    {
        var (root, s, info) = await SetUp();
        await using var _ = root;
        // labels.l2 is absent from the request: containerd stores "" for it, which deletes it.
        var updated = await s.UpdateAsync(info with { Labels = L(("l1", "updated"), ("l4", "v4")) }, ["labels.l1", "labels.l2"]);
        Assert.Equal(L(("l1", "updated"), ("l3", "v3")), updated.Labels);
        Assert.Equal(updated.Labels, (await s.StatAsync("a")).Labels);
    }

    [Fact]
    public async Task Labels_path_replaces_the_whole_map()
    {
        var (root, s, info) = await SetUp();
        await using var _ = root;
        var updated = await s.UpdateAsync(info with { Labels = L(("l4", "v4")) }, ["labels"]);
        Assert.Equal(L(("l4", "v4")), updated.Labels);
    }

    [Theory]
    [InlineData("parent")]
    [InlineData("name")]
    [InlineData("kind")]
    [InlineData("created_at")]
    [InlineData("labelsx")]
    public async Task Any_other_path_is_an_invalid_argument_and_changes_nothing(string path)
    {
        var (root, s, info) = await SetUp();
        await using var _ = root;
        await Assert.ThrowsAsync<SnapshotInvalidArgumentException>(() => s.UpdateAsync(info with { Labels = L() }, ["labels.l1", path]));
        Assert.Equal(info, await s.StatAsync("a") with { Labels = info.Labels });
        Assert.Equal(3, (await s.StatAsync("a")).Labels.Count);
    }

    [Fact]
    public async Task Updating_a_missing_snapshot_is_not_found_even_with_a_bad_path()
    {
        var (root, s, info) = await SetUp();
        await using var _ = root;
        await Assert.ThrowsAsync<SnapshotNotFoundException>(() => s.UpdateAsync(info with { Name = "nope" }, ["parent"]));
    }
}
