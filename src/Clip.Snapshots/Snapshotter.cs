using System.Globalization;
using Clip.Interop;
using Clip.Snapshots.Filters;
using Clip.Snapshots.Remote;
using Clip.Snapshots.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Clip.Snapshots;

/// <summary>
/// clip's snapshotter: containerd's overlayfs snapshotter semantics (snapshots/overlay/overlay.go)
/// plus the remote flow, in which a Prepare carrying image labels is answered by mounting the
/// layer's lazily served tree and committing it here (see Snapshotter.Remote.cs).
/// <para>
/// Layout under the root: <c>metadata.db</c> (SQLite) and <c>snapshots/&lt;id&gt;/fs</c> (the layer
/// or upper dir) and <c>snapshots/&lt;id&gt;/work</c> (overlay workdir, active snapshots only).
/// Directories are made under a temporary <c>new-*</c> name and renamed inside the database
/// transaction that records them; they are removed by renaming to <c>rm-*</c> first. Writers are
/// serialized (like bolt's single writer); readers run concurrently.
/// </para>
/// </summary>
public sealed partial class Snapshotter : ISnapshotter
{
    internal const string TempPrefix = "new-";
    internal const string RemovingPrefix = "rm-";

    /// <summary>containerd labels.Validate: a key and value together may not exceed this.</summary>
    private const int MaxLabelSize = 4096;

    private readonly MetadataStore _store;
    private readonly IRemoteLayerFileSystem _remote;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly SemaphoreSlim _repairLock = new(1, 1);
    private readonly bool _indexOff;
    private readonly FileStream _rootLock;
    private int _disposed;

    private Snapshotter(string root, FileStream rootLock, MetadataStore store, IRemoteLayerFileSystem remote, bool indexOff, ILogger log)
    {
        Root = root;
        _rootLock = rootLock;
        _store = store;
        _remote = remote;
        _indexOff = indexOff;
        _log = log;
    }

    /// <summary>The root directory.</summary>
    public string Root { get; }

    /// <summary>What the remote flow has done since start.</summary>
    public RemoteStatistics RemoteStatistics { get; } = new();

    internal string SnapshotsDirectory => Path.Combine(Root, "snapshots");

    internal string SnapshotDirectory(long id) => Path.Combine(SnapshotsDirectory, id.ToString(CultureInfo.InvariantCulture));

    /// <summary>The layer (committed) or upper (active) directory of snapshot <paramref name="id"/>; remote trees are mounted here.</summary>
    internal string UpperPath(long id) => Path.Combine(SnapshotDirectory(id), "fs");

    internal string WorkPath(long id) => Path.Combine(SnapshotDirectory(id), "work");

    /// <summary>
    /// Opens the snapshotter at <see cref="SnapshotterOptions.RootDirectory"/>: creates what is missing,
    /// undoes what a crash left half-made, and restores the trees of remote snapshots.
    /// </summary>
    public static async Task<Snapshotter> OpenAsync(SnapshotterOptions options, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        string root = Path.GetFullPath(options.RootDirectory);
        CreateDirectoryExact(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, onlyIfMissing: true);
        CreateDirectoryExact(Path.Combine(root, "snapshots"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, onlyIfMissing: true);
        var rootLock = LockRoot(root);
        MetadataStore? store = null;
        try
        {
            store = MetadataStore.Open(Path.Combine(root, "metadata.db"));
            bool indexOff = options.OverlayIndexOff ?? File.Exists("/sys/module/overlay/parameters/index");
            var s = new Snapshotter(root, rootLock, store, options.RemoteFileSystem, indexOff, logger ?? NullLogger.Instance);
            await s.RecoverAsync(cancellationToken).ConfigureAwait(false);
            return s;
        }
        catch
        {
            store?.Dispose();
            rootLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One snapshotter per root: an exclusive lock on <c>&lt;root&gt;/lock</c> (flock, released by the
    /// kernel when the process dies, so a crash never leaves the root locked).
    /// </summary>
    private static FileStream LockRoot(string root)
    {
        string path = Path.Combine(root, "lock");
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new InvalidOperationException($"{root} is in use by another clip snapshotter ({path} is locked)", e);
        }
    }

    public Task<SnapshotInfo> StatAsync(string key, CancellationToken cancellationToken = default)
    {
        using var tx = _store.BeginRead();
        return Task.FromResult(tx.Get(key).ToInfo());
    }

    public async Task<SnapshotInfo> UpdateAsync(SnapshotInfo info, IReadOnlyList<string> fieldPaths, CancellationToken cancellationToken = default)
    {
        await EnterWriteAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var tx = _store.BeginWrite();
            var rec = tx.Get(info.Name);
            // containerd storage.UpdateInfo: only labels are mutable; an empty mask replaces them all.
            var labels = new Dictionary<string, string>(rec.Labels, StringComparer.Ordinal);
            if (fieldPaths.Count == 0)
            {
                labels = new Dictionary<string, string>(info.Labels, StringComparer.Ordinal);
            }
            else
            {
                foreach (string path in fieldPaths)
                {
                    if (path.StartsWith("labels.", StringComparison.Ordinal))
                    {
                        string k = path["labels.".Length..];
                        labels[k] = info.Labels.TryGetValue(k, out string? v) ? v : "";
                    }
                    else if (path == "labels")
                    {
                        labels = new Dictionary<string, string>(info.Labels, StringComparer.Ordinal);
                    }
                    else
                    {
                        throw new SnapshotInvalidArgumentException($"cannot update \"{path}\" field on snapshot \"{info.Name}\": invalid argument");
                    }
                }
            }
            foreach (string k in labels.Where(kv => kv.Value.Length == 0).Select(kv => kv.Key).ToList())
                labels.Remove(k);
            ValidateLabels(labels);
            var now = DateTime.UtcNow;
            tx.UpdateLabels(rec.Id, labels, now);
            tx.Commit();
            return rec.ToInfo() with { UpdatedUtc = now, Labels = labels };
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task<SnapshotUsage> UsageAsync(string key, CancellationToken cancellationToken = default)
    {
        SnapshotRecord rec;
        RemoteLayerRecord? remote;
        using (var tx = _store.BeginRead())
        {
            rec = tx.Get(key);
            remote = tx.FindRemote(rec.Id);
        }
        if (remote is not null)
        {
            // Never walk a lazily served tree: that would fetch the whole layer.
            try
            {
                return await _remote.UsageAsync(UpperPath(rec.Id), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return rec.Usage;
            }
        }
        if (rec.Kind == SnapshotKind.Active)
            return DiskUsage.Measure(UpperPath(rec.Id), cancellationToken);
        return rec.Usage;
    }

    public async Task<IReadOnlyList<MountSpec>> MountsAsync(string key, CancellationToken cancellationToken = default)
    {
        SnapshotRecord rec;
        List<long> parents;
        using (var tx = _store.BeginRead())
        {
            rec = tx.Get(key);
            if (rec.Kind is not (SnapshotKind.Active or SnapshotKind.View))
                throw new SnapshotFailedPreconditionException($"requested snapshot {key} not active or view: failed precondition");
            parents = rec.ParentId is long p ? tx.Chain(p) : [];
        }
        await EnsureLayersServedAsync(parents, cancellationToken).ConfigureAwait(false);
        return BuildMounts(rec.Id, rec.Kind, parents);
    }

    public Task<IReadOnlyList<SnapshotInfo>> ListAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken = default)
    {
        var filter = FilterParser.ParseAll(filters);
        List<SnapshotRecord> all;
        using (var tx = _store.BeginRead())
            all = tx.All();
        IReadOnlyList<SnapshotInfo> result = all
            .Select(r => r.ToInfo())
            .Where(i => filter.Match(new InfoAdaptor(i)))
            .ToList();
        return Task.FromResult(result);
    }

    /// <summary>Snapshot counts by kind and remote layer counts by state (for metrics).</summary>
    public (IReadOnlyDictionary<SnapshotKind, int> Kinds, int RemoteMounted, int RemoteUnavailable) Counts()
    {
        using var tx = _store.BeginRead();
        var remote = tx.AllRemote();
        return (tx.CountByKind(),
            remote.Count(r => r.State == RemoteLayerState.Mounted),
            remote.Count(r => r.State == RemoteLayerState.Unavailable));
    }

    /// <summary>containerd overlay.go mounts(): bind for no parents, overlay otherwise, newest lowerdir first.</summary>
    private IReadOnlyList<MountSpec> BuildMounts(long id, SnapshotKind kind, IReadOnlyList<long> parents)
    {
        if (parents.Count == 0)
            return [new MountSpec("bind", UpperPath(id), [kind == SnapshotKind.View ? "ro" : "rw", "rbind"])];

        var options = new List<string>();
        if (_indexOff) options.Add("index=off");
        if (kind == SnapshotKind.Active)
        {
            options.Add("workdir=" + WorkPath(id));
            options.Add("upperdir=" + UpperPath(id));
        }
        else if (parents.Count == 1)
        {
            return [new MountSpec("bind", UpperPath(parents[0]), ["ro", "rbind"])];
        }
        options.Add("lowerdir=" + string.Join(':', parents.Select(UpperPath)));
        return [new MountSpec("overlay", "overlay", options)];
    }

    private static void ValidateKey(string key, string what)
    {
        if (string.IsNullOrEmpty(key))
            throw new SnapshotInvalidArgumentException($"{what} must not be empty: invalid argument");
    }

    private static void ValidateLabels(IReadOnlyDictionary<string, string> labels)
    {
        foreach (var (k, v) in labels)
        {
            if (k.Length == 0)
                throw new SnapshotInvalidArgumentException("label key must not be empty: invalid argument");
            if (System.Text.Encoding.UTF8.GetByteCount(k) + System.Text.Encoding.UTF8.GetByteCount(v) > MaxLabelSize)
                throw new SnapshotInvalidArgumentException($"label key and value greater than maximum size ({MaxLabelSize} bytes), key: {k}: invalid argument");
        }
    }

    /// <summary>mkdir with an exact mode (the process umask must not change what containerd's tests check).</summary>
    private static void CreateDirectoryExact(string path, UnixFileMode mode, bool onlyIfMissing = false)
    {
        if (onlyIfMissing && Directory.Exists(path)) return;
        Directory.CreateDirectory(path, mode);
        File.SetUnixFileMode(path, mode);
    }

    /// <summary>Takes the single-writer lock; throws once the snapshotter is disposed.</summary>
    private async Task EnterWriteAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (Volatile.Read(ref _disposed) != 0)
        {
            _writeLock.Release();
            throw new ObjectDisposedException(nameof(Snapshotter));
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // Wait for a running change to finish so the database is not closed under it; later
        // writers are turned away by EnterWriteAsync.
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            _store.Dispose();
            await _rootLock.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>The field view containerd's storage gives filters (storage/bolt.go adaptSnapshot).</summary>
    private sealed class InfoAdaptor(SnapshotInfo info) : IFieldAdaptor
    {
        public bool TryGetField(IReadOnlyList<string> fieldPath, out string value)
        {
            value = "";
            if (fieldPath.Count == 0) return false;
            switch (fieldPath[0])
            {
                case "kind":
                    if (info.Kind == SnapshotKind.Unknown) return false;
                    value = info.Kind.ToFilterValue();
                    return true;
                case "name":
                    value = info.Name;
                    return true;
                case "parent":
                    value = info.Parent;
                    return true;
                case "labels":
                    if (info.Labels.Count == 0) return false;
                    if (!info.Labels.TryGetValue(string.Join('.', fieldPath.Skip(1)), out string? v)) return false;
                    value = v;
                    return true;
                default:
                    return false;
            }
        }
    }
}
