namespace Clip.Snapshots.Remote;

/// <summary>
/// The seam between the snapshotter and the lazy filesystem (stargz-snapshotter's fs.FileSystem
/// idea): the snapshotter decides which layers to serve remotely and where their trees go; the
/// implementation makes a layer's read-only tree appear at a directory and keeps it served. The
/// snapshotter never looks inside a tree; children stack it as an overlay lowerdir.
/// Implementations must be safe for concurrent calls on different mountpoints.
/// </summary>
public interface IRemoteLayerFileSystem
{
    /// <summary>
    /// Makes the read-only tree of <paramref name="layer"/> appear at <paramref name="mountpoint"/>
    /// (an existing empty directory) and serves it until unmounted. Throws
    /// <see cref="LayerNotServableException"/> when this layer cannot be served lazily; on any
    /// failure nothing may be left mounted there.
    /// </summary>
    Task MountAsync(string mountpoint, RemoteLayer layer, CancellationToken cancellationToken);

    /// <summary>Returns when the tree at <paramref name="mountpoint"/> is still being served; throws when it is not.</summary>
    Task CheckAsync(string mountpoint, RemoteLayer layer, CancellationToken cancellationToken);

    /// <summary>Stops serving and detaches <paramref name="mountpoint"/>; does nothing when nothing of ours is there.</summary>
    Task UnmountAsync(string mountpoint, CancellationToken cancellationToken);

    /// <summary>Local disk this layer holds (cached bytes, inodes of its index/cache), as containerd's Usage reports it.</summary>
    Task<SnapshotUsage> UsageAsync(string mountpoint, CancellationToken cancellationToken);

    /// <summary>
    /// For a Prepare that names only its target (<c>containerd.io/snapshot.ref</c>, a chain ID) without image
    /// labels: the layer that chain ID stands for, when the filesystem knows it (e.g. from an index made
    /// earlier), or null. The returned layer's labels are stored and passed to <see cref="MountAsync"/> on restore.
    /// </summary>
    Task<RemoteLayer?> TryResolveChainIdAsync(string chainId, CancellationToken cancellationToken);
}

/// <summary>
/// The layer cannot be served lazily (unknown format, registry refuses ranges, not indexable, too
/// small to be worth it, ...). The snapshotter falls back to an ordinary snapshot that containerd fills.
/// </summary>
public sealed class LayerNotServableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The filesystem used when no lazy filesystem is configured: every layer is served the normal way.</summary>
public sealed class NoRemoteLayerFileSystem : IRemoteLayerFileSystem
{
    public Task MountAsync(string mountpoint, RemoteLayer layer, CancellationToken cancellationToken) =>
        throw new LayerNotServableException($"no lazy filesystem is configured (layer {layer.LayerDigest ?? layer.ChainId})");

    public Task CheckAsync(string mountpoint, RemoteLayer layer, CancellationToken cancellationToken) =>
        throw new InvalidOperationException($"no lazy filesystem is configured; nothing is served at {mountpoint}");

    public Task UnmountAsync(string mountpoint, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<SnapshotUsage> UsageAsync(string mountpoint, CancellationToken cancellationToken) => Task.FromResult(default(SnapshotUsage));

    public Task<RemoteLayer?> TryResolveChainIdAsync(string chainId, CancellationToken cancellationToken) => Task.FromResult<RemoteLayer?>(null);
}
