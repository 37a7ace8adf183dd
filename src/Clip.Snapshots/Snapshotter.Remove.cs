using System.Globalization;
using System.Security.Cryptography;
using Clip.Snapshots.Storage;

namespace Clip.Snapshots;

public sealed partial class Snapshotter
{
    /// <summary>
    /// containerd overlay.go Remove (synchronous removal): the row goes in one transaction; then
    /// every directory no snapshot owns is unmounted and deleted. A crash after the commit leaves a
    /// directory the database no longer knows, which the next start (or Cleanup) removes.
    /// </summary>
    public async Task RemoveAsync(string key, CancellationToken cancellationToken = default)
    {
        List<string> removals;
        await EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var tx = _store.BeginWrite();
            var rec = tx.Find(key) ?? throw new SnapshotNotFoundException($"snapshot {key}: not found");
            if (tx.HasChildren(rec.Id))
                throw new SnapshotFailedPreconditionException($"cannot remove snapshot {key} with child: failed precondition");
            tx.Delete(rec.Id); // labels and the remote row go with it (ON DELETE CASCADE)
            removals = UnownedDirectories(tx.AllIds(), includeNumeric: true);
            tx.Commit();
            Log.Removed(_log, key, rec.Id);
        }
        finally
        {
            _writeLock.Release();
        }
        CrashPoints.Hit(CrashPoints.RemoveAfterDbCommit);
        foreach (string dir in removals)
            await RemoveSnapshotDirectoryAsync(dir).ConfigureAwait(false);
    }

    /// <summary>containerd Cleanup: removes every directory (and layer tree) no snapshot owns.</summary>
    public async Task CleanupAsync(CancellationToken cancellationToken = default)
    {
        List<string> removals;
        // The write lock keeps a create from placing a directory between listing and the id check.
        await EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var tx = _store.BeginRead();
            removals = UnownedDirectories(tx.AllIds(), includeNumeric: true);
        }
        finally
        {
            _writeLock.Release();
        }
        foreach (string dir in removals)
            await RemoveSnapshotDirectoryAsync(dir).ConfigureAwait(false);
    }

    /// <summary>
    /// Entries of snapshots/ that belong to no snapshot: clip's temporaries (<c>new-*</c>, <c>rm-*</c>)
    /// and, when <paramref name="includeNumeric"/>, id directories without a row. Anything else is not
    /// clip's and is never touched.
    /// </summary>
    private List<string> UnownedDirectories(HashSet<long> ids, bool includeNumeric)
    {
        var result = new List<string>();
        foreach (string path in Directory.EnumerateFileSystemEntries(SnapshotsDirectory))
        {
            string name = Path.GetFileName(path);
            if (name.StartsWith(TempPrefix, StringComparison.Ordinal) || name.StartsWith(RemovingPrefix, StringComparison.Ordinal))
                result.Add(path);
            else if (includeNumeric && long.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out long id) && !ids.Contains(id))
                result.Add(path);
        }
        return result;
    }

    /// <summary>
    /// Unmounts the layer tree in <paramref name="dir"/> (if any), renames the directory to <c>rm-*</c>
    /// and deletes it. Refuses to delete anything that still has a mount inside.
    /// </summary>
    private async Task RemoveSnapshotDirectoryAsync(string dir)
    {
        string name = Path.GetFileName(dir);
        if (!name.StartsWith(TempPrefix, StringComparison.Ordinal))
            await UnmountLayerAsync(Path.Combine(dir, "fs")).ConfigureAwait(false);
        var stillMounted = MountTable.DetachAllUnder(dir);
        if (stillMounted.Count > 0)
        {
            Log.DirectoryKeptMounted(_log, dir, stillMounted[0]);
            return;
        }
        try
        {
            string doomed = dir;
            if (!name.StartsWith(RemovingPrefix, StringComparison.Ordinal))
            {
                doomed = Path.Combine(SnapshotsDirectory, RemovingPrefix + RandomNumberGenerator.GetHexString(12, lowercase: true));
                Directory.Move(dir, doomed);
            }
            CrashPoints.Hit(CrashPoints.RemoveDuringDirDelete);
            Directory.Delete(doomed, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.DirectoryRemovalFailed(_log, e, dir);
        }
    }
}
