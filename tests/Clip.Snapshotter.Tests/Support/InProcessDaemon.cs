using Clip.Snapshots.Remote;
using Clip.Snapshotter.Configuration;
using Clip.Snapshotter.Hosting;
using Clip.Testing;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Proto = Clip.Snapshotter.Protos.Snapshots;

namespace Clip.Snapshotter.Tests.Support;

/// <summary>The daemon hosted in the test process (same host code as the binary), with an optional fake lazy filesystem.</summary>
public sealed class InProcessDaemon : IAsyncDisposable
{
    private readonly TempDir? _ownedDir;

    private InProcessDaemon(SnapshotterHost host, TempDir? ownedDir)
    {
        Host = host;
        _ownedDir = ownedDir;
        (Channel, Client) = SnapshotsClient.Connect(host.Config.Socket);
    }

    public SnapshotterHost Host { get; }
    public GrpcChannel Channel { get; }
    public Proto.Snapshots.SnapshotsClient Client { get; }
    public string Root => Host.Config.RootDir;

    /// <summary>Starts on <paramref name="root"/> (a fresh temp dir when null).</summary>
    public static async Task<InProcessDaemon> StartAsync(string? root = null, IRemoteLayerFileSystem? remote = null, string metricsAddress = "")
    {
        TempDir? owned = null;
        if (root is null)
        {
            owned = new TempDir("clip-d");
            root = owned.Path;
        }
        var config = new ClipConfig
        {
            RootDir = Path.Combine(root, "root"),
            Socket = Path.Combine(root, "run", "clip.sock"),
            LogLevel = "warn",
            MetricsAddress = metricsAddress,
        };
        var host = await SnapshotterHost.StartAsync(config, services =>
        {
            if (remote is not null) services.AddSingleton(remote);
        });
        return new InProcessDaemon(host, owned);
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Host.DisposeAsync();
        _ownedDir?.Dispose();
    }
}
