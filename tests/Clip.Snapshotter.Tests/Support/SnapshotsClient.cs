using System.Net.Sockets;
using Grpc.Net.Client;
using Proto = Clip.Snapshotter.Protos.Snapshots;

namespace Clip.Snapshotter.Tests.Support;

/// <summary>A gRPC client for the daemon over its unix socket (HTTP/2 without TLS), as containerd connects.</summary>
public static class SnapshotsClient
{
    public static (GrpcChannel Channel, Proto.Snapshots.SnapshotsClient Client) Connect(string socket)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            },
        };
        // containerd (grpc-go, unix:// target) sends ":authority: localhost".
        var channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = handler });
        return (channel, new Proto.Snapshots.SnapshotsClient(channel));
    }
}
