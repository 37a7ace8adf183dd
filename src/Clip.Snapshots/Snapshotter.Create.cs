using System.Security.Cryptography;
using Clip.Interop;
using Clip.Snapshots.Remote;
using Clip.Snapshots.Storage;

namespace Clip.Snapshots;

public sealed partial class Snapshotter
{
    private static readonly IReadOnlyDictionary<string, string> NoLabels = new Dictionary<string, string>();

    private const UnixFileMode Mode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Mode0755 = Mode0700 | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
    private const UnixFileMode Mode0711 = Mode0700 | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>What a create recorded: the new id and its parent chain (nearest first).</summary>
    private readonly record struct Created(long Id, SnapshotKind Kind, List<long> Parents);

    public async Task<IReadOnlyList<MountSpec>> PrepareAsync(string key, string parent, IReadOnlyDictionary<string, string>? labels,
        CancellationToken cancellationToken = default)
    {
        labels ??= NoLabels;
        var target = RemoteLayer.FromLabels(labels);
        if (target is null)
        {
            var created = await CreateAsync(SnapshotKind.Active, key, parent, labels, remote: null, cancellationToken).ConfigureAwait(false);
            return BuildMounts(created.Id, created.Kind, created.Parents);
        }
        return await PrepareWithTargetAsync(key, parent, labels, target, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<MountSpec>> ViewAsync(string key, string parent, IReadOnlyDictionary<string, string>? labels,
        CancellationToken cancellationToken = default)
    {
        var created = await CreateAsync(SnapshotKind.View, key, parent, labels ?? NoLabels, remote: null, cancellationToken).ConfigureAwait(false);
        return BuildMounts(created.Id, created.Kind, created.Parents);
    }

    /// <summary>
    /// containerd overlay.go createSnapshot: make the directory under a temporary name, record the
    /// snapshot, rename the directory into place and commit, all under the write lock. A failure
    /// removes the directory; a crash leaves either nothing (temp dir, removed at start) or a
    /// directory the database does not know (removed at start), never a row without its directory.
    /// </summary>
    private async Task<Created> CreateAsync(SnapshotKind kind, string key, string parent, IReadOnlyDictionary<string, string> labels,
        RemoteLayer? remote, CancellationToken cancellationToken)
    {
        ValidateKey(key, "snapshot key");
        ValidateLabels(labels);
        if (parent.Length > 0)
        {
            List<long> chain;
            using (var tx = _store.BeginRead())
                chain = tx.Find(parent) is { } p ? tx.Chain(p.Id) : [];
            await EnsureLayersServedAsync(chain, cancellationToken).ConfigureAwait(false);
        }

        await EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            long id = _store.ReserveId();
            string? temp = MakeTempDirectory(kind);
            string? placed = null;
            try
            {
                CrashPoints.Hit(CrashPoints.CreateAfterTempDir);
                using var tx = _store.BeginWrite();
                SnapshotRecord? parentRecord = null;
                if (parent.Length > 0)
                {
                    parentRecord = tx.Find(parent) ?? throw new SnapshotNotFoundException($"parent snapshot {parent}: not found");
                    if (parentRecord.Kind != SnapshotKind.Committed)
                        throw new SnapshotInvalidArgumentException($"parent {parent} is not committed snapshot: invalid argument");
                }
                if (tx.Find(key) is not null)
                    throw new SnapshotAlreadyExistsException($"snapshot {key}: already exists");

                tx.Insert(id, key, kind, parentRecord?.Id, DateTime.UtcNow, labels);
                if (remote is not null)
                    tx.InsertRemote(id, remote.StoredLabels(), RemoteLayerState.Mounting);
                var parents = parentRecord is null ? [] : tx.Chain(parentRecord.Id);
                if (parents.Count > 0)
                {
                    // overlay.go: the upper dir's root takes the owner of the parent layer's root.
                    var st = Libc.LStat(UpperPath(parents[0]));
                    Libc.LChown(Path.Combine(temp, "fs"), st.Uid, st.Gid);
                }

                string path = SnapshotDirectory(id);
                Directory.Move(temp, path); // rename(2): the directory appears whole or not at all
                temp = null;
                placed = path;
                CrashPoints.Hit(CrashPoints.CreateAfterRename);
                tx.Commit();
                placed = null;
                CrashPoints.Hit(CrashPoints.CreateAfterDbCommit);
                Log.Created(_log, kind, key, id, parent);
                return new Created(id, kind, parents);
            }
            finally
            {
                if (temp is not null) TryDeleteOwnDirectory(temp);
                if (placed is not null) TryDeleteOwnDirectory(placed);
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>containerd overlay.go prepareDirectory: new-XXXX/{fs 0755, work 0711 (active only)}.</summary>
    private string MakeTempDirectory(SnapshotKind kind)
    {
        string temp = Path.Combine(SnapshotsDirectory, TempPrefix + RandomNumberGenerator.GetHexString(12, lowercase: true));
        CreateDirectoryExact(temp, Mode0700);
        try
        {
            CreateDirectoryExact(Path.Combine(temp, "fs"), Mode0755);
            if (kind == SnapshotKind.Active)
                CreateDirectoryExact(Path.Combine(temp, "work"), Mode0711);
        }
        catch
        {
            TryDeleteOwnDirectory(temp);
            throw;
        }
        return temp;
    }

    /// <summary>Deletes a directory this call made itself (nothing can be mounted in it yet).</summary>
    private void TryDeleteOwnDirectory(string path)
    {
        try
        {
            if (!MountTable.AnyMountUnder(path))
                Directory.Delete(path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.DirectoryRemovalFailed(_log, e, path);
        }
    }

    public Task CommitAsync(string name, string key, IReadOnlyDictionary<string, string>? labels, string parent = "",
        CancellationToken cancellationToken = default) =>
        CommitCoreAsync(name, key, labels ?? NoLabels, parent, remote: false, cancellationToken);

    /// <summary>
    /// containerd storage.CommitActive: the active row becomes the committed row (same id, same
    /// directory), labels replaced, usage recorded. One transaction; no directory moves.
    /// </summary>
    private async Task CommitCoreAsync(string name, string key, IReadOnlyDictionary<string, string> labels, string parent, bool remote,
        CancellationToken cancellationToken)
    {
        ValidateKey(name, "committed snapshot name");
        ValidateLabels(labels);

        // Measure outside the write lock: the active snapshot is finished; walking a big upper dir must not stall other writers.
        SnapshotUsage usage = default;
        long measuredId = -1;
        if (!remote)
        {
            using (var tx = _store.BeginRead())
            {
                if (tx.Find(key) is { Kind: SnapshotKind.Active } rec && tx.FindRemote(rec.Id) is null)
                    measuredId = rec.Id;
            }
            if (measuredId >= 0)
                usage = DiskUsage.Measure(UpperPath(measuredId), cancellationToken);
        }

        await EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var tx = _store.BeginWrite();
            if (tx.Find(name) is not null)
                throw new SnapshotAlreadyExistsException($"committed snapshot {name}: already exists");
            var active = tx.Find(key) ?? throw new SnapshotNotFoundException($"failed to get active snapshot {key}: not found");
            if (active.Kind != SnapshotKind.Active)
                throw new SnapshotFailedPreconditionException($"snapshot {key} is not active: failed precondition");
            if (!remote && active.Id != measuredId)
                usage = DiskUsage.Measure(UpperPath(active.Id), cancellationToken);

            long? parentId = active.ParentId;
            if (parent.Length > 0 && parent != active.ParentName)
            {
                // containerd 2.2 "rebase": a parentless active may be committed onto a parent.
                if (active.ParentId is not null)
                    throw new SnapshotInvalidArgumentException($"cannot change parent of active snapshot {key} on commit: invalid argument");
                var p = tx.Find(parent) ?? throw new SnapshotNotFoundException($"missing parent {parent} of snapshot {key}: not found");
                if (p.Kind != SnapshotKind.Committed)
                    throw new SnapshotFailedPreconditionException($"parent {parent} is not committed: failed precondition");
                parentId = p.Id;
            }

            tx.Commit(active.Id, name, parentId, DateTime.UtcNow, usage, labels);
            if (remote)
                tx.SetRemoteState(active.Id, RemoteLayerState.Mounted, "");
            CrashPoints.Hit(CrashPoints.CommitBeforeDbCommit);
            tx.Commit();
            CrashPoints.Hit(CrashPoints.CommitAfterDbCommit);
            Log.Committed(_log, key, name, active.Id);
        }
        finally
        {
            _writeLock.Release();
        }
    }
}
