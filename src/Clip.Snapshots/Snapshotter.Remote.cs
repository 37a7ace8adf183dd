using Clip.Snapshots.Remote;
using Clip.Snapshots.Storage;

namespace Clip.Snapshots;

public sealed partial class Snapshotter
{
    /// <summary>
    /// The remote flow (shape of stargz-snapshotter snapshot/snapshot.go). containerd sends the
    /// target chain ID in <c>containerd.io/snapshot.ref</c>; when the lazy filesystem can serve the
    /// layer, clip mounts its tree into a new snapshot's fs dir, commits that snapshot itself as the
    /// target and answers AlreadyExists, so containerd skips downloading and unpacking the layer.
    /// Whatever cannot be served lazily becomes the ordinary active snapshot containerd fills.
    /// </summary>
    private async Task<IReadOnlyList<MountSpec>> PrepareWithTargetAsync(string key, string parent, IReadOnlyDictionary<string, string> labels,
        RemoteLayer target, CancellationToken cancellationToken)
    {
        if (TargetExists(target.ChainId, parent))
            throw new SnapshotAlreadyExistsException($"target snapshot {target.ChainId}: already exists");

        // The target's name taken by a snapshot on another parent: it cannot be committed under that
        // name, so this layer takes the ordinary path.
        bool nameTaken;
        using (var tx = _store.BeginRead())
            nameTaken = tx.Find(target.ChainId) is not null;
        RemoteLayer? layer = null;
        if (!nameTaken)
            layer = target.HasImageInformation ? target : await ResolveAsync(target.ChainId, cancellationToken).ConfigureAwait(false);

        var created = await CreateAsync(SnapshotKind.Active, key, parent, labels, layer, cancellationToken).ConfigureAwait(false);
        var mounts = BuildMounts(created.Id, created.Kind, created.Parents);
        if (layer is null)
            return mounts;

        switch (await TryServeAsync(created.Id, key, parent, labels, layer, cancellationToken).ConfigureAwait(false))
        {
            case ServeOutcome.Served:
                throw new SnapshotAlreadyExistsException($"target snapshot {target.ChainId}: already exists");
            case ServeOutcome.TargetAppeared:
                // A concurrent Prepare (another image sharing this layer) committed the same target
                // first. Nobody knows our active snapshot yet: drop it and point containerd at theirs.
                await RemoveAsync(key, CancellationToken.None).ConfigureAwait(false);
                throw new SnapshotAlreadyExistsException($"target snapshot {target.ChainId}: already exists");
            default:
                return mounts;
        }
    }

    private enum ServeOutcome
    {
        /// <summary>Mounted and committed as the target.</summary>
        Served,
        /// <summary>Not served; the active snapshot is an ordinary one for containerd to fill.</summary>
        FallBack,
        /// <summary>Not served because the same target (same parent) was committed meanwhile.</summary>
        TargetAppeared,
    }

    private async Task<RemoteLayer?> ResolveAsync(string chainId, CancellationToken cancellationToken)
    {
        try
        {
            var layer = await _remote.TryResolveChainIdAsync(chainId, cancellationToken).ConfigureAwait(false);
            return layer is null ? null : layer with { ChainId = chainId };
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.ResolveFailed(_log, e, chainId);
            return null;
        }
    }

    /// <summary>Mounts the layer into active snapshot <paramref name="id"/> and commits it as the target.</summary>
    private async Task<ServeOutcome> TryServeAsync(long id, string key, string parent, IReadOnlyDictionary<string, string> labels, RemoteLayer layer,
        CancellationToken cancellationToken)
    {
        string mountpoint = UpperPath(id);
        try
        {
            await _remote.MountAsync(mountpoint, layer, cancellationToken).ConfigureAwait(false);
        }
        catch (LayerNotServableException e)
        {
            Interlocked.Increment(ref RemoteStatistics.notServable);
            Log.RemoteNotServable(_log, layer.ChainId, e.Message);
            await UndoRemoteMountAsync(id, mountpoint).ConfigureAwait(false);
            return ServeOutcome.FallBack;
        }
        catch (Exception e)
        {
            await UndoRemoteMountAsync(id, mountpoint).ConfigureAwait(false);
            if (e is OperationCanceledException && cancellationToken.IsCancellationRequested) throw;
            Interlocked.Increment(ref RemoteStatistics.failed);
            Log.RemoteMountFailed(_log, e, layer.ChainId);
            return ServeOutcome.FallBack;
        }
        CrashPoints.Hit(CrashPoints.RemoteAfterMount);

        var committedLabels = new Dictionary<string, string>(labels, StringComparer.Ordinal)
        {
            [RemoteLabels.TargetSnapshotRef] = layer.ChainId,
            [RemoteLabels.Remote] = RemoteLabels.RemoteValue,
        };
        try
        {
            await CommitCoreAsync(layer.ChainId, key, committedLabels, parent, remote: true, CancellationToken.None).ConfigureAwait(false);
        }
        catch (SnapshotAlreadyExistsException) when (TargetExists(layer.ChainId, parent))
        {
            await UndoRemoteMountAsync(id, mountpoint).ConfigureAwait(false);
            return ServeOutcome.TargetAppeared;
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref RemoteStatistics.failed);
            Log.RemoteCommitFailed(_log, e, layer.ChainId);
            await UndoRemoteMountAsync(id, mountpoint).ConfigureAwait(false);
            return ServeOutcome.FallBack;
        }
        Interlocked.Increment(ref RemoteStatistics.served);
        Log.RemoteServed(_log, layer.LayerDigest ?? "(resolved)", layer.ImageReference ?? "(resolved)", layer.ChainId);
        return ServeOutcome.Served;
    }

    /// <summary>Whether <paramref name="chainId"/> is a committed snapshot on <paramref name="parent"/>.</summary>
    private bool TargetExists(string chainId, string parent)
    {
        using var tx = _store.BeginRead();
        return tx.Find(chainId) is { Kind: SnapshotKind.Committed } t && t.ParentName == parent;
    }

    /// <summary>After a failed lazy mount: nothing of the layer stays mounted and the snapshot is an ordinary active one.</summary>
    private async Task UndoRemoteMountAsync(long id, string mountpoint)
    {
        await UnmountLayerAsync(mountpoint).ConfigureAwait(false);
        await EnterWriteAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            using var tx = _store.BeginWrite();
            tx.DeleteRemote(id);
            tx.Commit();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Asks the filesystem to unmount, then detaches whatever is still mounted there.</summary>
    private async Task UnmountLayerAsync(string mountpoint)
    {
        try
        {
            await _remote.UnmountAsync(mountpoint, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.UnmountFailed(_log, e, mountpoint);
        }
        foreach (string mp in MountTable.MountPointsUnder(mountpoint))
        {
            Log.LeftoverMountDetached(_log, mp);
            MountTable.DetachAllUnder(mp);
        }
    }

    /// <summary>
    /// Before handing out mounts that stack remote layers: every remote layer in
    /// <paramref name="chain"/> must be served. A failed check triggers one re-mount; a layer that
    /// still cannot be served fails the call (a missing lowerdir would give the container a wrong rootfs).
    /// </summary>
    private async Task EnsureLayersServedAsync(IReadOnlyList<long> chain, CancellationToken cancellationToken)
    {
        if (chain.Count == 0) return;
        Dictionary<long, RemoteLayerRecord> remote;
        Dictionary<long, string> names;
        using (var tx = _store.BeginRead())
        {
            remote = tx.RemoteOf(chain);
            if (remote.Count == 0) return;
            names = remote.Keys.ToDictionary(id => id, id => tx.NameOf(id) ?? id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        foreach (var rec in remote.Values)
        {
            if (rec.State == RemoteLayerState.Mounting) continue;
            string name = names[rec.SnapshotId];
            var layer = RemoteLayer.FromLabels(rec.Labels)!;
            string mountpoint = UpperPath(rec.SnapshotId);
            if (rec.State == RemoteLayerState.Mounted)
            {
                try
                {
                    await _remote.CheckAsync(mountpoint, layer, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    Log.RemoteCheckFailed(_log, e, name);
                }
            }
            if (!await RestoreLayerAsync(rec.SnapshotId, name, layer, cancellationToken).ConfigureAwait(false))
                throw new SnapshotFailedPreconditionException($"remote layer {name} is unavailable (cannot be mounted lazily): failed precondition");
        }
    }

    /// <summary>(Re)mounts a committed remote layer and records the outcome; false when it cannot be served.</summary>
    private async Task<bool> RestoreLayerAsync(long id, string name, RemoteLayer layer, CancellationToken cancellationToken)
    {
        string mountpoint = UpperPath(id);
        await _repairLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await UnmountLayerAsync(mountpoint).ConfigureAwait(false);
            RemoteLayerState state;
            string detail;
            try
            {
                await _remote.MountAsync(mountpoint, layer, cancellationToken).ConfigureAwait(false);
                state = RemoteLayerState.Mounted;
                detail = "";
                Interlocked.Increment(ref RemoteStatistics.restored);
                Log.RemoteRestored(_log, name, mountpoint);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                state = RemoteLayerState.Unavailable;
                detail = e.Message;
                Interlocked.Increment(ref RemoteStatistics.restoreFailed);
                Log.RemoteRestoreFailed(_log, e, name, mountpoint);
            }
            await EnterWriteAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                using var tx = _store.BeginWrite();
                if (tx.FindRemote(id) is not null)
                {
                    tx.SetRemoteState(id, state, detail);
                    tx.Commit();
                }
                else if (state == RemoteLayerState.Mounted)
                {
                    // Removed while we mounted it: do not leave the tree behind.
                    await UnmountLayerAsync(mountpoint).ConfigureAwait(false);
                    state = RemoteLayerState.Unavailable;
                }
            }
            finally
            {
                _writeLock.Release();
            }
            return state == RemoteLayerState.Mounted;
        }
        finally
        {
            _repairLock.Release();
        }
    }
}
