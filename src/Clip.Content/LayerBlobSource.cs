using Clip.Gzip;
using Clip.Index;
using Clip.Oci;
using Microsoft.Extensions.Logging;

namespace Clip.Content;

/// <summary>
/// Where one layer's compressed bytes come from. Reads go to the remote (every chunk verified)
/// until the whole blob is local; then to the local copy. The whole blob is fetched (and its
/// digest verified) up front for small layers, or in the background once reads of the layer have
/// been quiet for a while, when that is enabled. Local copies live under the cache directory,
/// named by digest, written to a temp name and renamed.
/// </summary>
public sealed partial class LayerBlobSource : IRangeSource, IDisposable
{
    /// <summary>Downloads the whole blob to a path, verifying its digest (e.g. RegistryClient.DownloadBlobAsync).</summary>
    public delegate Task WholeBlobFetcher(string path, CancellationToken cancellationToken);

    private readonly LayerIndex _index;
    private readonly IRangeSource _remote;
    private readonly WholeBlobFetcher? _fetchWhole;
    private readonly ContentOptions _options;
    private readonly ContentMetrics? _metrics;
    private readonly ILogger _log;
    private readonly string _localPath;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private FileRangeSource? _local;
    private Task? _wholeFetch;
    private Timer? _quietTimer;
    private long _lastRead;
    private readonly ReadStatistics? _stats;

    public LayerBlobSource(LayerIndex index, IRangeSource verifiedRemote, WholeBlobFetcher? fetchWhole, ContentOptions options,
        ContentMetrics? metrics = null, ILogger? logger = null, ReadStatistics? stats = null)
    {
        _stats = stats;
        _index = index;
        _remote = verifiedRemote;
        _fetchWhole = fetchWhole;
        _options = options;
        _metrics = metrics;
        _log = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _localPath = BlobPath(options.CacheDirectory, index);
        if (File.Exists(_localPath) && new FileInfo(_localPath).Length == index.CompressedSize) _local = new FileRangeSource(_localPath);
    }

    /// <summary>Where a layer's whole blob is kept once fetched.</summary>
    public static string BlobPath(string cacheDirectory, LayerIndex index) => BlobPath(cacheDirectory, index.Digest);

    /// <summary>Where the whole blob of layer <paramref name="layer"/> is kept under a cache directory.</summary>
    public static string BlobPath(string cacheDirectory, Digest layer) => Path.Combine(cacheDirectory, "blobs", layer.Algorithm, layer.Hex);

    public long Length => _index.CompressedSize;

    /// <summary>True once reads are served from a verified local copy.</summary>
    public bool IsLocal => Volatile.Read(ref _local) is not null;

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _lastRead, Environment.TickCount64);
        if (Volatile.Read(ref _local) is null && _fetchWhole is not null)
        {
            if (_index.CompressedSize < _options.SmallLayerThreshold)
                await EnsureWholeAsync(cancellationToken).ConfigureAwait(false);
            else if (_options.BackgroundFetch)
                ArmQuietTimer();
        }
        if (Volatile.Read(ref _local) is { } local)
        {
            await local.ReadAsync(offset, destination, cancellationToken).ConfigureAwait(false);
            return;
        }
        await _remote.ReadAsync(offset, destination, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Fetches the whole blob once (concurrent callers share the fetch); afterwards reads are local.</summary>
    public Task EnsureWholeAsync(CancellationToken cancellationToken)
    {
        if (_fetchWhole is null || Volatile.Read(ref _local) is not null) return Task.CompletedTask;
        Task task;
        lock (_lock)
        {
            if (_wholeFetch is null || _wholeFetch.IsFaulted || _wholeFetch.IsCanceled) _wholeFetch = FetchWholeAsync();
            task = _wholeFetch;
        }
        return task.WaitAsync(cancellationToken);
    }

    private async Task FetchWholeAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_localPath)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        LogWholeFetch(_log, _index.Digest.ToString(), _index.CompressedSize);
        await _fetchWhole!(_localPath, _stop.Token).ConfigureAwait(false);
        if (new FileInfo(_localPath).Length != _index.CompressedSize)
            throw new InvalidDataException($"layer {_index.Digest}: fetched blob has the wrong size");
        _metrics?.WholeLayerFetches.Add(1);
        _stats?.Fetched(_index.CompressedSize);
        Volatile.Write(ref _local, new FileRangeSource(_localPath));
    }

    private void ArmQuietTimer()
    {
        lock (_lock)
        {
            if (_quietTimer is not null || _wholeFetch is not null) return;
            var period = _options.BackgroundQuietPeriod;
            _quietTimer = new Timer(_ =>
            {
                if (Environment.TickCount64 - Interlocked.Read(ref _lastRead) < period.TotalMilliseconds) return;
                lock (_lock)
                {
                    _quietTimer?.Dispose();
                    _quietTimer = null;
                }
                _ = EnsureWholeAsync(CancellationToken.None).ContinueWith(t =>
                {
                    if (t.Exception is { } e) LogWholeFetchFailed(_log, _index.Digest.ToString(), e.GetBaseException().Message);
                }, TaskScheduler.Default);
            }, null, period, period);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        lock (_lock)
        {
            _quietTimer?.Dispose();
            _quietTimer = null;
        }
        _local?.Dispose();
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "fetching layer {Digest} whole ({Bytes} bytes)")]
    private static partial void LogWholeFetch(ILogger logger, string digest, long bytes);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "background fetch of layer {Digest} failed: {Reason}; reads stay lazy")]
    private static partial void LogWholeFetchFailed(ILogger logger, string digest, string reason);
}
