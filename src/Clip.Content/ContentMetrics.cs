using System.Diagnostics.Metrics;

namespace Clip.Content;

/// <summary>
/// Counters for lazy reads, on the Meter "Clip.Content" (the daemon exports them to Prometheus).
/// Label values come from fixed sets; never a digest or a path.
/// </summary>
public sealed class ContentMetrics : IDisposable
{
    public const string MeterName = "Clip.Content";
    private readonly Meter _meter;
    private long _cacheBytes;

    public ContentMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        Fetches = _meter.CreateCounter<long>("clip.content.fetches", description: "Range reads of compressed layer bytes from the source (registry or blob)");
        FetchedBytes = _meter.CreateCounter<long>("clip.content.fetched_bytes", "By", "Compressed bytes fetched");
        VerificationFailures = _meter.CreateCounter<long>("clip.content.verification_failures", description: "Fetched chunks whose sha256 did not match the index");
        VerificationRetries = _meter.CreateCounter<long>("clip.content.verification_retries", description: "Re-fetches after a verification failure");
        CacheHits = _meter.CreateCounter<long>("clip.content.cache_hits", description: "Reads served from the decompressed cache");
        CacheMisses = _meter.CreateCounter<long>("clip.content.cache_misses", description: "Reads that had to fetch and inflate");
        CacheEvictions = _meter.CreateCounter<long>("clip.content.cache_evictions", description: "Cache files evicted to stay under the size bound");
        InflateSeconds = _meter.CreateCounter<double>("clip.content.inflate_seconds", "s", "Time spent inflating");
        InflatedBytes = _meter.CreateCounter<long>("clip.content.inflated_bytes", "By", "Uncompressed bytes produced");
        WholeLayerFetches = _meter.CreateCounter<long>("clip.content.whole_layer_fetches", description: "Layers fetched whole (small layers, background fetch)");
        _meter.CreateObservableGauge("clip.content.cache_size_bytes", () => Interlocked.Read(ref _cacheBytes), "By", "Bytes in the decompressed cache");
    }

    public Counter<long> Fetches { get; }
    public Counter<long> FetchedBytes { get; }
    public Counter<long> VerificationFailures { get; }
    public Counter<long> VerificationRetries { get; }
    public Counter<long> CacheHits { get; }
    public Counter<long> CacheMisses { get; }
    public Counter<long> CacheEvictions { get; }
    public Counter<double> InflateSeconds { get; }
    public Counter<long> InflatedBytes { get; }
    public Counter<long> WholeLayerFetches { get; }

    internal void SetCacheBytes(long value) => Interlocked.Exchange(ref _cacheBytes, value);

    public void Dispose() => _meter.Dispose();
}

/// <summary>Per-reader totals, for <c>--stats</c> and tests (the Meter aggregates across readers).</summary>
public sealed class ReadStatistics
{
    private long _fetches, _fetchedBytes, _hits, _misses, _verificationFailures;

    public long Fetches => Interlocked.Read(ref _fetches);
    public long FetchedBytes => Interlocked.Read(ref _fetchedBytes);
    public long CacheHits => Interlocked.Read(ref _hits);
    public long CacheMisses => Interlocked.Read(ref _misses);
    public long VerificationFailures => Interlocked.Read(ref _verificationFailures);

    internal void Fetched(long bytes)
    {
        Interlocked.Increment(ref _fetches);
        Interlocked.Add(ref _fetchedBytes, bytes);
    }

    internal void Hit() => Interlocked.Increment(ref _hits);
    internal void Miss() => Interlocked.Increment(ref _misses);
    internal void VerificationFailed() => Interlocked.Increment(ref _verificationFailures);
}
