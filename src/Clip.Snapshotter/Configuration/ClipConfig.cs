namespace Clip.Snapshotter.Configuration;

/// <summary>
/// The daemon's configuration, read from <c>/etc/clip/config.toml</c> (keys are the snake_case of
/// the property names; packaging/config.toml lists every key with its default). Unknown keys are an
/// error so a typo never silently falls back to a default.
/// </summary>
public sealed class ClipConfig
{
    /// <summary>Where snapshots (<c>snapshots/</c>) and their metadata (<c>metadata.db</c>) live.</summary>
    public string RootDir { get; set; } = "/var/lib/clip";

    /// <summary>Unix socket containerd's <c>[proxy_plugins.clip] address</c> points to. Created with mode 0600.</summary>
    public string Socket { get; set; } = "/run/clip/clip.sock";

    /// <summary>trace, debug, info, warn, error.</summary>
    public string LogLevel { get; set; } = "info";

    /// <summary>text (one line per event) or json (one JSON object per line).</summary>
    public string LogFormat { get; set; } = "text";

    /// <summary><c>host:port</c> serving Prometheus metrics at <c>/metrics</c>; empty turns metrics off.</summary>
    public string MetricsAddress { get; set; } = "";

    /// <summary>The lazy-loading side (index, cache, registry). Read by the lazy filesystem.</summary>
    public LazyConfig Lazy { get; set; } = new();
}

/// <summary>
/// Settings of the lazy filesystem that serves remote layers. The snapshotter only carries them;
/// the layer filesystem, cache and registry client read them.
/// </summary>
public sealed class LazyConfig
{
    /// <summary>Directory of the span cache and layer indexes; empty: <c>&lt;root_dir&gt;/cache</c>.</summary>
    public string CacheDir { get; set; } = "";

    /// <summary>Upper bound of the local span cache in MiB; least recently used spans are evicted beyond it.</summary>
    public long CacheSizeMib { get; set; } = 10240;

    /// <summary>Uncompressed distance between gzip checkpoints in MiB when a layer is indexed.</summary>
    public int SpanSizeMib { get; set; } = 4;

    /// <summary>Fetch whole layers in the background after a quiet period, so later reads are local.</summary>
    public bool BackgroundFetch { get; set; } = true;

    /// <summary>Seconds without reads on a layer before the background fetch starts.</summary>
    public int BackgroundFetchDelaySeconds { get; set; } = 30;

    /// <summary>Layers smaller than this many MiB are fetched whole at first use instead of span by span.</summary>
    public int SmallLayerThresholdMib { get; set; } = 10;

    /// <summary>containerd-style registry host configuration (<c>hosts.toml</c> per registry: mirrors, TLS, plain HTTP).</summary>
    public string CertsDir { get; set; } = "/etc/containerd/certs.d";
}
