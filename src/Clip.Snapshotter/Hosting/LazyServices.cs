using Clip.Content;
using Clip.Index.Build;
using Clip.Registry;
using Clip.Snapshots.Remote;
using Clip.Snapshotter.Configuration;
using Clip.Snapshotter.Remote;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Clip.Snapshotter.Hosting;

/// <summary>Registers the lazy filesystem (FUSE layer trees over registry Range GETs) as the snapshotter's remote filesystem.</summary>
public static class LazyServices
{
    public static void Register(IServiceCollection services, ClipConfig config)
    {
        var lazy = config.Lazy;
        var options = new LazyFileSystemOptions
        {
            Content = new ContentOptions
            {
                CacheDirectory = lazy.CacheDir.Length > 0 ? lazy.CacheDir : Path.Combine(config.RootDir, "cache"),
                CacheMaxBytes = lazy.CacheSizeMib << 20,
                SmallLayerThreshold = (long)lazy.SmallLayerThresholdMib << 20,
                BackgroundFetch = lazy.BackgroundFetch,
                BackgroundQuietPeriod = TimeSpan.FromSeconds(lazy.BackgroundFetchDelaySeconds),
            },
            // Shared with clipctl's default root: `clipctl index --image REF` on a node makes the image known to the daemon.
            IndexDirectory = Path.Combine(config.RootDir, "indexes"),
            Indexing = new LayerIndexOptions { SpanSize = (long)lazy.SpanSizeMib << 20 },
            HostsDirectory = lazy.CertsDir,
        };
        services.AddSingleton(options);
        services.AddSingleton<ContentMetrics>();
        services.AddSingleton<FileSystemMetrics>();
        services.AddSingleton(sp => new RegistryClient(new RegistryClientOptions { HostsDirectory = options.HostsDirectory },
            sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<LazyLayerFileSystem>();
        services.AddSingleton<IRemoteLayerFileSystem>(sp => sp.GetRequiredService<LazyLayerFileSystem>());
    }
}
