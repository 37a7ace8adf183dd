using System.Collections.Concurrent;
using Clip.Content;
using Clip.Fuse;
using Clip.Index;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Clip.FileSystem;

/// <summary>
/// The trees one process serves, by mount point: the seam the snapshotter (and clipctl) use to make a
/// layer's tree — or an image's merged view — appear at a directory, check it is still served, and take
/// it away. Safe for concurrent calls on different mount points; a mount point holds at most one tree.
/// </summary>
/// <example>
/// <code>
/// await using var mounts = new LayerMounts(logger: log);
/// var reader = RemoteLayers.OpenReader(client, repository, index, cache, content);
/// await mounts.MountLayerAsync("/var/lib/clip/snapshots/12/fs", index, reader);   // reader now owned by the mount
/// mounts.Check("/var/lib/clip/snapshots/12/fs");                                  // throws IOException if not served
/// await mounts.UnmountAsync("/var/lib/clip/snapshots/12/fs");                     // false if nothing of ours was there
/// </code>
/// </example>
public sealed class LayerMounts(TreeMountOptions? options = null, ILogger? logger = null) : IAsyncDisposable
{
    private readonly TreeMountOptions _options = options ?? new TreeMountOptions();
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly ConcurrentDictionary<string, MountedTree?> _mounts = new(StringComparer.Ordinal);

    /// <summary>The trees served now.</summary>
    public IReadOnlyCollection<MountedTree> Mounts => _mounts.Values.OfType<MountedTree>().ToList();

    /// <summary>
    /// Serves <paramref name="layer"/>'s own tree (overlayfs conventions, <see cref="LayerTreeFileSystem"/>) at
    /// <paramref name="mountPoint"/>, an existing directory, reading through <paramref name="reader"/>, which the
    /// mount owns from now on (disposed when serving ends, or now if mounting fails). <paramref name="lowerLayers"/> (the
    /// image's layers under this one, lowest first) give implicit directories the metadata they have below.
    /// </summary>
    public Task<MountedTree> MountLayerAsync(string mountPoint, LayerIndex layer, LayerReader reader, IReadOnlyList<LayerIndex>? lowerLayers = null,
        CancellationToken cancellationToken = default) =>
        MountAsync(mountPoint, new LayerTreeFileSystem(layer, reader, lowerLayers), $"layer {layer.Digest}",
            _options with { Source = "clip:" + layer.Digest.Hex[..12] }, [reader], cancellationToken);

    /// <summary>Serves an image's merged view (<see cref="MergedTreeFileSystem"/>); the mount owns <paramref name="readers"/>.</summary>
    public Task<MountedTree> MountImageAsync(string mountPoint, IReadOnlyList<LayerIndex> layers, IReadOnlyList<LayerReader> readers,
        string? description = null, CancellationToken cancellationToken = default)
    {
        MergedTreeFileSystem fs;
        try
        {
            fs = new MergedTreeFileSystem(layers, readers);
        }
        catch
        {
            foreach (var r in readers) r.Dispose();
            throw;
        }
        return MountAsync(mountPoint, fs, description ?? $"image of {layers.Count} layers", _options with { Source = "clip" }, readers, cancellationToken);
    }

    /// <summary>Serves any tree; <paramref name="owned"/> are disposed when serving ends (or now if mounting fails).</summary>
    public async Task<MountedTree> MountAsync(string mountPoint, IFuseFileSystem fileSystem, string description, TreeMountOptions? options = null,
        IEnumerable<IDisposable>? owned = null, CancellationToken cancellationToken = default)
    {
        string mp = MountInfo.Normalize(mountPoint);
        if (!_mounts.TryAdd(mp, null))
        {
            foreach (var r in owned ?? []) r.Dispose();
            throw new InvalidOperationException($"{mp} is already served (or being mounted)");
        }
        MountedTree tree;
        try
        {
            tree = await MountedTree.MountAsync(mp, fileSystem, description, options ?? _options, owned, _logger, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _mounts.TryRemove(mp, out _);
            throw;
        }
        _mounts[mp] = tree;
        // Unmounted by someone else (umount(8), a lazy detach that drained): forget it.
        _ = tree.Completion.ContinueWith(_ =>
        {
            if (_mounts.TryRemove(new KeyValuePair<string, MountedTree?>(mp, tree))) Log.UnmountedElsewhere(_logger, mp);
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return tree;
    }

    /// <summary>The tree served at <paramref name="mountPoint"/>, if any.</summary>
    public MountedTree? Find(string mountPoint) =>
        _mounts.TryGetValue(MountInfo.Normalize(mountPoint), out var tree) ? tree : null;

    /// <summary>Throws <see cref="IOException"/> unless a tree of ours is served at <paramref name="mountPoint"/>.</summary>
    public void Check(string mountPoint)
    {
        var tree = Find(mountPoint) ?? throw new IOException($"nothing is served at {MountInfo.Normalize(mountPoint)}");
        tree.Check();
    }

    /// <summary>
    /// Stops serving <paramref name="mountPoint"/> and unmounts it (lazily when busy, aborting the session after
    /// the grace period); returns false when nothing of ours was there.
    /// </summary>
    public async Task<bool> UnmountAsync(string mountPoint, CancellationToken cancellationToken = default)
    {
        string mp = MountInfo.Normalize(mountPoint);
        if (!_mounts.TryGetValue(mp, out var tree) || tree is null) return false;
        await tree.UnmountAsync(cancellationToken).ConfigureAwait(false);
        _mounts.TryRemove(new KeyValuePair<string, MountedTree?>(mp, tree));
        return true;
    }

    /// <summary>Unmounts every tree.</summary>
    public async ValueTask DisposeAsync()
    {
        var all = _mounts.Values.OfType<MountedTree>().ToList();
        await Task.WhenAll(all.Select(t => t.UnmountAsync())).ConfigureAwait(false);
        _mounts.Clear();
    }
}
