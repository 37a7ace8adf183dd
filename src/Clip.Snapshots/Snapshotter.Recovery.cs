using Clip.Snapshots.Remote;
using Clip.Snapshots.Storage;

namespace Clip.Snapshots;

public sealed partial class Snapshotter
{
    /// <summary>
    /// Start-up, before any request: put the disk back in line with the database and bring remote
    /// layers back. Order matters: nothing is deleted while anything is still mounted below it.
    /// <list type="number">
    /// <item>Unmount every layer tree and detach every other leftover mount under snapshots/ (the
    /// previous process's FUSE servers are gone).</item>
    /// <item>Undo lazy Prepares a crash interrupted (remote row still "mounting" on an active snapshot).</item>
    /// <item>Delete clip's own leftovers: temporaries, and id directories the database does not know
    /// (only when the database existed before, so a lost database never costs data).</item>
    /// <item>Re-mount every committed remote layer; one that fails is marked unavailable and the rest go on.</item>
    /// </list>
    /// Active, view and committed snapshots' directories are never deleted here.
    /// </summary>
    private async Task RecoverAsync(CancellationToken cancellationToken)
    {
        List<RemoteLayerRecord> remote;
        List<SnapshotRecord> all;
        using (var tx = _store.BeginRead())
        {
            remote = tx.AllRemote();
            all = tx.All();
        }
        var byId = all.ToDictionary(r => r.Id);

        foreach (var rec in remote)
            await UnmountLayerAsync(UpperPath(rec.SnapshotId)).ConfigureAwait(false);
        // Strictly below: snapshots/ itself may be a mount of its own (a dedicated disk).
        foreach (string mp in MountTable.MountPointsUnder(SnapshotsDirectory, strictlyBelow: true))
            Log.LeftoverMountDetached(_log, mp);
        MountTable.DetachAllUnder(SnapshotsDirectory, strictlyBelow: true);

        var interrupted = remote.Where(r => r.State == RemoteLayerState.Mounting && byId.TryGetValue(r.SnapshotId, out var s) && s.Kind != SnapshotKind.Committed).ToList();
        if (interrupted.Count > 0)
        {
            using var tx = _store.BeginWrite();
            foreach (var r in interrupted)
            {
                tx.DeleteRemote(r.SnapshotId);
                Log.InterruptedRemotePrepareUndone(_log, byId[r.SnapshotId].Name, r.SnapshotId);
            }
            tx.Commit();
        }

        var ids = byId.Keys.ToHashSet();
        foreach (string dir in UnownedDirectories(ids, includeNumeric: true))
        {
            string name = Path.GetFileName(dir);
            bool temporary = name.StartsWith(TempPrefix, StringComparison.Ordinal) || name.StartsWith(RemovingPrefix, StringComparison.Ordinal);
            if (!temporary && !_store.Existed)
            {
                Log.UnknownDirectoryKept(_log, dir);
                continue;
            }
            await RemoveSnapshotDirectoryAsync(dir).ConfigureAwait(false);
            if (!Directory.Exists(dir)) Log.LeftoverDirectoryRemoved(_log, dir);
        }
        foreach (var rec in all)
        {
            if (!Directory.Exists(UpperPath(rec.Id)))
                Log.SnapshotDirectoryMissing(_log, rec.Name, rec.Id, UpperPath(rec.Id));
        }

        int restored = 0;
        foreach (var r in remote)
        {
            if (!byId.TryGetValue(r.SnapshotId, out var snapshot) || snapshot.Kind != SnapshotKind.Committed) continue;
            var layer = RemoteLayer.FromLabels(r.Labels);
            if (layer is null) continue;
            if (await RestoreLayerAsync(r.SnapshotId, snapshot.Name, layer, cancellationToken).ConfigureAwait(false))
                restored++;
        }

        var counts = all.GroupBy(r => r.Kind).ToDictionary(g => g.Key, g => g.Count());
        Log.Opened(_log, Root, counts.GetValueOrDefault(SnapshotKind.Active), counts.GetValueOrDefault(SnapshotKind.View),
            counts.GetValueOrDefault(SnapshotKind.Committed), restored);
    }
}
