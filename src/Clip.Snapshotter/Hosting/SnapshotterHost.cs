using System.Net.Sockets;
using Clip.Snapshots;
using CoreSnapshotter = Clip.Snapshots.Snapshotter;
using Clip.Snapshots.Remote;
using Clip.Snapshotter.Configuration;
using Clip.Snapshotter.Grpc;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;
using MsLogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Clip.Snapshotter.Hosting;

/// <summary>
/// Builds and runs the daemon: opens (and recovers) the snapshotter, then serves gRPC over HTTP/2
/// without TLS on the unix socket (mode 0600), plus metrics on their own address when configured.
/// The lazy filesystem is taken from DI: <paramref name="configureServices"/> may register an
/// <see cref="IRemoteLayerFileSystem"/>; without one every layer is a normal overlay snapshot.
/// </summary>
public sealed class SnapshotterHost : IAsyncDisposable
{
    private readonly KestrelMetricServer? _metricServer;
    private int _disposed;

    private SnapshotterHost(WebApplication app, CoreSnapshotter snapshotter, ClipConfig config, KestrelMetricServer? metricServer)
    {
        App = app;
        Snapshotter = snapshotter;
        Config = config;
        _metricServer = metricServer;
    }

    public WebApplication App { get; }
    public CoreSnapshotter Snapshotter { get; }
    public ClipConfig Config { get; }

    public static async Task<SnapshotterHost> StartAsync(ClipConfig config, Action<IServiceCollection>? configureServices = null,
        CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        ConfigureLogging(builder.Logging, config);
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton<SnapshotterMetrics>();
        builder.Services.AddSingleton(sp => new Telemetry.MeterBridge(sp.GetRequiredService<SnapshotterMetrics>().Registry));
        builder.Services.AddSingleton<SnapshotterHolder>();
        builder.Services.AddSingleton<ISnapshotter>(sp => sp.GetRequiredService<SnapshotterHolder>().Instance);
        configureServices?.Invoke(builder.Services);
        builder.Services.TryAddSingleton<IRemoteLayerFileSystem, NoRemoteLayerFileSystem>();
        builder.Services.AddGrpc(o => o.Interceptors.Add<SnapshotsCallInterceptor>());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ListenUnixSocket(config.Socket, l => l.Protocols = HttpProtocols.Http2);
            k.AddServerHeader = false;
        });

        var app = builder.Build();
        app.MapGrpcService<SnapshotsService>();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Clip.Snapshotter");

        var snapshotter = await CoreSnapshotter.OpenAsync(new SnapshotterOptions
        {
            RootDirectory = config.RootDir,
            RemoteFileSystem = app.Services.GetRequiredService<IRemoteLayerFileSystem>(),
        }, app.Services.GetRequiredService<ILogger<CoreSnapshotter>>(), cancellationToken);
        app.Services.GetRequiredService<SnapshotterHolder>().Instance = snapshotter;
        var metrics = app.Services.GetRequiredService<SnapshotterMetrics>();
        metrics.Attach(snapshotter);
        app.Services.GetRequiredService<Telemetry.MeterBridge>(); // lazy-read, registry and FUSE counters into the same /metrics

        KestrelMetricServer? metricServer = null;
        try
        {
            PrepareSocket(config.Socket, log);
            await app.StartAsync(cancellationToken);
            // Kestrel creates the socket with the process umask; only root may talk to the snapshotter.
            File.SetUnixFileMode(config.Socket, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            if (config.MetricsAddress.Length > 0 && ConfigLoader.TryParseHostPort(config.MetricsAddress, out string metricsHost, out int port))
            {
                metricServer = new KestrelMetricServer(metricsHost, port, "/metrics", metrics.Registry);
                metricServer.Start();
                Log.MetricsListening(log, config.MetricsAddress);
            }
        }
        catch
        {
            metricServer?.Dispose();
            await app.DisposeAsync();
            await snapshotter.DisposeAsync();
            throw;
        }
        Log.Listening(log, config.Socket, config.RootDir);
        var host = new SnapshotterHost(app, snapshotter, config, metricServer);
        app.Lifetime.ApplicationStopped.Register(() => Log.Stopped(log));
        return host;
    }

    /// <summary>Runs until SIGTERM/SIGINT (or <see cref="StopAsync"/>), then shuts down gracefully.</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => App.WaitForShutdownAsync(cancellationToken);

    public Task StopAsync() => App.StopAsync();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _metricServer?.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        await Snapshotter.DisposeAsync();
        try { File.Delete(Config.Socket); } catch (IOException) { }
    }

    /// <summary>Creates the socket's directory (0700) and removes a stale socket; refuses when a live daemon answers there.</summary>
    private static void PrepareSocket(string socket, ILogger log)
    {
        string? dir = Path.GetDirectoryName(socket);
        if (dir is not null && !Directory.Exists(dir))
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (!File.Exists(socket)) return;
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(socket));
                throw new InvalidOperationException($"{socket}: another process is already serving on this socket");
            }
            catch (SocketException)
            {
                // Nobody listens: a leftover of a process that died.
            }
        }
        File.Delete(socket);
        Log.StaleSocketRemoved(log, socket);
    }

    private static void ConfigureLogging(ILoggingBuilder logging, ClipConfig config)
    {
        logging.ClearProviders();
        if (config.LogFormat == "json")
            logging.AddJsonConsole(o => o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ");
        else
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff ";
                o.UseUtcTimestamp = true;
            });
        var level = config.LogLevel switch
        {
            "trace" => MsLogLevel.Trace,
            "debug" => MsLogLevel.Debug,
            "warn" => MsLogLevel.Warning,
            "error" => MsLogLevel.Error,
            _ => MsLogLevel.Information,
        };
        logging.SetMinimumLevel(level);
        // ASP.NET Core's own chatter only when asked for debugging.
        logging.AddFilter("Microsoft", level <= MsLogLevel.Debug ? level : MsLogLevel.Warning);
        logging.AddFilter("Grpc", level <= MsLogLevel.Debug ? level : MsLogLevel.Warning);
    }

    /// <summary>The snapshotter is opened after the container is built (recovery needs the logger).</summary>
    private sealed class SnapshotterHolder
    {
        private CoreSnapshotter? _instance;
        public CoreSnapshotter Instance
        {
            get => _instance ?? throw new InvalidOperationException("the snapshotter is not open yet");
            set => _instance = value;
        }
    }
}
