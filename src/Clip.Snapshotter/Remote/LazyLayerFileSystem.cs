using System.Collections.Concurrent;
using Clip.Content;
using Clip.FileSystem;
using Clip.Index;
using Clip.Index.Build;
using Clip.Interop;
using Clip.Oci;
using Clip.Registry;
using Clip.Snapshots;
using Clip.Snapshots.Remote;
using Microsoft.Extensions.Logging;

namespace Clip.Snapshotter.Remote;

/// <summary>Everything the lazy filesystem needs from the daemon's configuration.</summary>
public sealed record LazyFileSystemOptions
{
    public required ContentOptions Content { get; init; }
    public required string IndexDirectory { get; init; }
    public LayerIndexOptions Indexing { get; init; } = new();
    public string? HostsDirectory { get; init; } = "/etc/containerd/certs.d";
}

/// <summary>
/// The real <see cref="IRemoteLayerFileSystem"/>: each layer's read-only tree served over FUSE
/// (overlayfs conventions), its bytes read lazily from the registry, verified and cached.
/// The layer's index comes from the local store (so a restart needs no network), else from the
/// registry (an index artifact stored by <c>clipctl index --push</c>), else the layer is
/// downloaded once, verified and indexed now — its blob then stays local. Anything that fails
/// becomes <see cref="LayerNotServableException"/>: containerd then unpacks the layer normally.
/// </summary>
public sealed partial class LazyLayerFileSystem : IRemoteLayerFileSystem, IAsyncDisposable
{
    private readonly LazyFileSystemOptions _options;
    private readonly RegistryClient _client;
    private readonly IndexStore _store;
    private readonly SpanCache _cache;
    private readonly ContentMetrics _metrics;
    private readonly FileSystemMetrics _fsMetrics;
    private readonly ILogger _log;
    private readonly ILoggerFactory _loggers;
    private readonly ConcurrentDictionary<string, Served> _served = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Digest, Lazy<Task>> _artifactLookups = new();
    private readonly ConcurrentDictionary<Digest, SemaphoreSlim> _indexing = new();

    private sealed record Served(MountedTree Tree, LayerIndex Index);

    public LazyLayerFileSystem(LazyFileSystemOptions options, RegistryClient client, ContentMetrics metrics, FileSystemMetrics fsMetrics, ILoggerFactory loggers)
    {
        _fsMetrics = fsMetrics;
        _options = options;
        _client = client;
        _metrics = metrics;
        _loggers = loggers;
        _log = loggers.CreateLogger<LazyLayerFileSystem>();
        _store = new IndexStore(options.IndexDirectory);
        _cache = new SpanCache(options.Content.CacheDirectory, options.Content.CacheMaxBytes, metrics);
    }

    public IndexStore Store => _store;
    public SpanCache Cache => _cache;

    public async Task MountAsync(string mountpoint, RemoteLayer layer, CancellationToken cancellationToken)
    {
        string mp = Path.GetFullPath(mountpoint);
        try
        {
            var (index, repository) = await ResolveAsync(layer, cancellationToken).ConfigureAwait(false);
            var reader = RemoteLayers.OpenReader(_client, repository, index, _cache, _options.Content, _metrics, logger: _log);
            var tree = new LayerTreeFileSystem(index, reader, LowerLayers(layer, index.Digest));
            DetachStale(mp);
            // The reader is handed over: MountedTree disposes it when serving ends (or mounting fails).
            var mounted = await MountedTree.MountAsync(mp, new InstrumentedFileSystem(tree, _fsMetrics), $"layer {index.Digest}",
                new TreeMountOptions { Source = $"clip:{index.Digest.Hex[..12]}", AsImage = true }, [reader],
                _loggers.CreateLogger("Clip.Fuse"), cancellationToken).ConfigureAwait(false);
            if (!_served.TryAdd(mp, new Served(mounted, index)))
            {
                await mounted.UnmountAsync(CancellationToken.None).ConfigureAwait(false);
                throw new InvalidOperationException($"{mp} is already served");
            }
            Log.Mounted(_log, index.Digest.ToString(), mp);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (e is LayerNotServableException) throw;
            Log.NotServable(_log, layer.LayerDigest ?? layer.ChainId, e.Message);
            throw new LayerNotServableException($"layer {layer.LayerDigest ?? layer.ChainId} cannot be served lazily: {e.Message}", e);
        }
    }

    /// <summary>Indexes of the layers below this one that the store has (directories with no tar entry inherit their metadata, as an unpack would).</summary>
    private List<LayerIndex> LowerLayers(RemoteLayer layer, Digest self)
    {
        var lower = new List<LayerIndex>();
        foreach (string d in layer.ImageLayers)
        {
            if (!Digest.TryParse(d, out var digest) || digest == self) break;
            if (_store.GetLayer(digest) is { } l) lower.Add(l);
        }
        return lower;
    }

    public Task CheckAsync(string mountpoint, RemoteLayer layer, CancellationToken cancellationToken)
    {
        string mp = Path.GetFullPath(mountpoint);
        if (!_served.TryGetValue(mp, out var served)) throw new InvalidOperationException($"layer {layer.LayerDigest ?? layer.ChainId} is not served at {mp}");
        served.Tree.Check();
        return Task.CompletedTask;
    }

    public async Task UnmountAsync(string mountpoint, CancellationToken cancellationToken)
    {
        string mp = Path.GetFullPath(mountpoint);
        if (_served.TryRemove(mp, out var served))
        {
            await served.Tree.UnmountAsync(cancellationToken).ConfigureAwait(false);
            Log.Unmounted(_log, served.Index.Digest.ToString(), mp);
            return;
        }
        DetachStale(mp);
    }

    public Task<SnapshotUsage> UsageAsync(string mountpoint, CancellationToken cancellationToken)
    {
        string mp = Path.GetFullPath(mountpoint);
        if (!_served.TryGetValue(mp, out var served)) return Task.FromResult(default(SnapshotUsage));
        var (bytes, files) = _cache.LayerUsage(served.Index.Digest);
        long local = File.Exists(LayerBlobSource.BlobPath(_options.Content.CacheDirectory, served.Index)) ? served.Index.CompressedSize : 0;
        return Task.FromResult(new SnapshotUsage(bytes + local + served.Index.SectionSize, files + 1));
    }

    public Task<RemoteLayer?> TryResolveChainIdAsync(string chainId, CancellationToken cancellationToken)
    {
        if (!Digest.TryParse(chainId, out var chain)) return Task.FromResult<RemoteLayer?>(null);
        if (_store.FindByChainId(chain) is not { } found) return Task.FromResult<RemoteLayer?>(null);
        var (image, position) = found;
        var layer = image.Layers[position];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [RemoteLabels.TargetSnapshotRef] = chainId,
            [RemoteLabels.CriImageRef] = image.Reference,
            [RemoteLabels.CriLayerDigest] = layer.Digest.ToString(),
            [RemoteLabels.CriManifestDigest] = image.ManifestDigest.ToString(),
            [RemoteLabels.CriImageLayers] = string.Join(',', image.Layers.Select(l => l.Digest.ToString())),
        };
        return Task.FromResult(RemoteLayer.FromLabels(labels));
    }

    /// <summary>The layer's index and the repository its blob lives in.</summary>
    private async Task<(LayerIndex Index, RepositoryName Repository)> ResolveAsync(RemoteLayer layer, CancellationToken ct)
    {
        if (layer.LayerDigest is null || !Digest.TryParse(layer.LayerDigest, out var digest))
            throw new LayerNotServableException($"snapshot {layer.ChainId}: no layer digest among the labels");
        if (layer.ImageReference is null) throw new LayerNotServableException($"layer {digest}: no image reference among the labels");
        if (!Reference.TryParse(layer.ImageReference, out var reference, out string? error))
            throw new LayerNotServableException($"layer {digest}: image reference \"{layer.ImageReference}\" is not usable: {error}");
        var repository = reference!.RepositoryName;
        if (_store.GetLayer(digest) is { } known) return (known, repository);

        // Another node may have indexed this image: look for the index artifact once per manifest.
        Digest? manifest = layer.ManifestDigest is { } m && Digest.TryParse(m, out var md) ? md : null;
        manifest ??= (await _client.ResolveImageAsync(reference, cancellationToken: ct).ConfigureAwait(false)).ManifestDigest;
        var lookup = _artifactLookups.GetOrAdd(manifest.Value, md => new Lazy<Task>(() => FetchArtifactAsync(repository, md)));
        await lookup.Value.WaitAsync(ct).ConfigureAwait(false);
        if (_store.GetLayer(digest) is { } fetched) return (fetched, repository);

        // Not indexed anywhere: download the blob once (verified), keep it local, index it.
        var gate = _indexing.GetOrAdd(digest, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_store.GetLayer(digest) is { } other) return (other, repository);
            var descriptor = await LayerDescriptorAsync(repository, manifest.Value, digest, ct).ConfigureAwait(false);
            string blobPath = LayerBlobSource.BlobPath(_options.Content.CacheDirectory, digest);
            Directory.CreateDirectory(Path.GetDirectoryName(blobPath)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Log.IndexingNow(_log, digest.ToString(), descriptor.Size);
            if (!File.Exists(blobPath) || new FileInfo(blobPath).Length != descriptor.Size)
                await _client.DownloadBlobAsync(repository, digest, blobPath, descriptor.Size, ct).ConfigureAwait(false);
            _metrics.WholeLayerFetches.Add(1);
            _metrics.FetchedBytes.Add(descriptor.Size);
            await using var blob = new FileStream(blobPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
            var index = await LayerIndexer.IndexAsync(blob, digest, descriptor.MediaType, descriptor.Size, _options.Indexing, cancellationToken: ct).ConfigureAwait(false);
            _store.PutLayer(index);
            return (index, repository);
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task FetchArtifactAsync(RepositoryName repository, Digest manifest)
    {
        try
        {
            var found = await RegistryIndexes.FetchAsync(_client, repository, manifest, _store).ConfigureAwait(false);
            if (found is not null) Log.IndexFetched(_log, manifest.ToString(), found.Value.Layers.Count);
        }
        catch (Exception e) when (e is RegistryException or IOException or InvalidDataException)
        {
            Log.IndexFetchFailed(_log, manifest.ToString(), e.Message);
            _artifactLookups.TryRemove(manifest, out _); // a later layer may try again
        }
    }

    private async Task<Descriptor> LayerDescriptorAsync(RepositoryName repository, Digest manifest, Digest layer, CancellationToken ct)
    {
        var content = await _client.GetManifestAsync(repository, manifest.ToString(), ct).ConfigureAwait(false);
        if (content.IsIndex) throw new LayerNotServableException($"manifest {manifest} is an index, not an image manifest");
        return content.ParseManifest().Layers.FirstOrDefault(d => d.Digest == layer.ToString())
            ?? throw new LayerNotServableException($"layer {layer} is not in image manifest {manifest}");
    }

    /// <summary>A FUSE mount of a previous daemon left at <paramref name="mountpoint"/> (its server is gone): detach it.</summary>
    private static void DetachStale(string mountpoint)
    {
        if (MountInfo.IsMounted(mountpoint)) Libc.TryUnmount(mountpoint, Libc.MNT_DETACH);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var mp in _served.Keys.ToList()) await UnmountAsync(mp, CancellationToken.None).ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "serving layer {Digest} at {Mountpoint}")]
        public static partial void Mounted(ILogger logger, string digest, string mountpoint);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "stopped serving layer {Digest} at {Mountpoint}")]
        public static partial void Unmounted(ILogger logger, string digest, string mountpoint);

        [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "layer {Layer} falls back to a normal unpack: {Reason}")]
        public static partial void NotServable(ILogger logger, string layer, string reason);

        [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "no stored index for layer {Digest}: downloading it ({Bytes} bytes) to index it now")]
        public static partial void IndexingNow(ILogger logger, string digest, long bytes);

        [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "fetched the index of image {Manifest} from its registry ({Layers} layers)")]
        public static partial void IndexFetched(ILogger logger, string manifest, int layers);

        [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "looking for a stored index of image {Manifest} failed: {Reason}")]
        public static partial void IndexFetchFailed(ILogger logger, string manifest, string reason);
    }
}
