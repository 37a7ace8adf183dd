namespace Clip.Snapshots;

/// <summary>
/// containerd's snapshots.Snapshotter contract (containerd snapshots/snapshotter.go, v1.6–v2.2).
/// Keys and names share one namespace. Errors are <see cref="SnapshotException"/>s.
/// </summary>
public interface ISnapshotter : IAsyncDisposable
{
    /// <summary>Info of the snapshot named <paramref name="key"/> (any kind); NotFound when missing.</summary>
    Task<SnapshotInfo> StatAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Updates labels per the field mask (empty: replace all; "labels"; "labels.&lt;k&gt;"); other paths are InvalidArgument.</summary>
    Task<SnapshotInfo> UpdateAsync(SnapshotInfo info, IReadOnlyList<string> fieldPaths, CancellationToken cancellationToken = default);

    /// <summary>Disk held by the snapshot: measured for active ones, stored at commit for committed ones, asked of the lazy filesystem for remote ones.</summary>
    Task<SnapshotUsage> UsageAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>The mounts of an active or view snapshot (FailedPrecondition for committed ones).</summary>
    Task<IReadOnlyList<MountSpec>> MountsAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Creates active <paramref name="key"/> on committed <paramref name="parent"/> (empty: none); AlreadyExists when a lazily served target was committed instead.</summary>
    Task<IReadOnlyList<MountSpec>> PrepareAsync(string key, string parent, IReadOnlyDictionary<string, string>? labels, CancellationToken cancellationToken = default);

    /// <summary>Creates read-only view <paramref name="key"/> of committed <paramref name="parent"/>.</summary>
    Task<IReadOnlyList<MountSpec>> ViewAsync(string key, string parent, IReadOnlyDictionary<string, string>? labels, CancellationToken cancellationToken = default);

    /// <summary>Commits active <paramref name="key"/> as <paramref name="name"/> with exactly <paramref name="labels"/>; a non-empty <paramref name="parent"/> rebases a parentless active (containerd 2.2).</summary>
    Task CommitAsync(string name, string key, IReadOnlyDictionary<string, string>? labels, string parent = "", CancellationToken cancellationToken = default);

    /// <summary>Removes the snapshot and its data; FailedPrecondition while it has children.</summary>
    Task RemoveAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Snapshots matching any of the containerd <paramref name="filters"/> (all when empty).</summary>
    Task<IReadOnlyList<SnapshotInfo>> ListAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken = default);

    /// <summary>Frees directories and layer trees no snapshot owns any more.</summary>
    Task CleanupAsync(CancellationToken cancellationToken = default);
}
