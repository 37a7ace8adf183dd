namespace Clip.Content;

/// <summary>How lazy reads fetch and cache.</summary>
public sealed record ContentOptions
{
    /// <summary>Root of the decompressed-span cache and of whole layer blobs fetched locally.</summary>
    public required string CacheDirectory { get; init; }

    /// <summary>Bound on decompressed bytes cached (least recently used spans are evicted).</summary>
    public long CacheMaxBytes { get; init; } = 10L << 30;

    /// <summary>Layers smaller than this are fetched whole (and digest-verified) on first use.</summary>
    public long SmallLayerThreshold { get; init; } = 10L << 20;

    /// <summary>Fetch each layer whole in the background once reads of it have been quiet for <see cref="BackgroundQuietPeriod"/>.</summary>
    public bool BackgroundFetch { get; init; }

    public TimeSpan BackgroundQuietPeriod { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Uncompressed bytes inflated beyond a random read inside a large file (a sequential reader gets whole spans).</summary>
    public long ReadAhead { get; init; } = 1L << 20;

    /// <summary>Live inflaters kept per layer so that a later read further into a span continues instead of restarting.</summary>
    public int ResumableDecodersPerLayer { get; init; } = 4;
}
