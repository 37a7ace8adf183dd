using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Clip.NetBench.Relay;

/// <summary>
/// The relay's control endpoint, plain HTTP/1.0 on loopback: <c>GET /stats</c> (JSON
/// <see cref="TrafficStats"/>), <c>POST /reset</c> (new measurement window), <c>GET /healthz</c>.
/// One request per connection; enough for curl and <see cref="Measure.MeasureCommand"/>.
/// </summary>
public sealed class ControlServer(IPEndPoint listen, TrafficLog log) : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = false };
    private readonly TcpListener _listener = new(listen);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public IPEndPoint LocalEndpoint => (IPEndPoint)_listener.LocalEndpoint;

    public void Start()
    {
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        _loop = LoopAsync();
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket s;
            try
            {
                s = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(s));
        }
    }

    private async Task HandleAsync(Socket s)
    {
        using var socket = s;
        try
        {
            await using var stream = new NetworkStream(socket);
            var head = new StringBuilder();
            var buf = new byte[4096];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                int n = await stream.ReadAsync(buf, timeout.Token).ConfigureAwait(false);
                if (n == 0) return;
                head.Append(Encoding.ASCII.GetString(buf, 0, n));
                if (head.Length > 65536) return;
            }
            var words = head.ToString().Split("\r\n")[0].Split(' ');
            string method = words[0], path = words.Length > 1 ? words[1] : "/";
            (int status, string body) = (method, path) switch
            {
                ("GET", "/stats") => (200, JsonSerializer.Serialize(log.Snapshot(), Json)),
                ("POST", "/reset") => Reset(),
                ("GET", "/healthz") => (200, "ok\n"),
                _ => (404, "unknown: GET /stats, POST /reset, GET /healthz\n"),
            };
            byte[] payload = Encoding.UTF8.GetBytes(body);
            string reason = status == 200 ? "OK" : "Not Found";
            byte[] header = Encoding.ASCII.GetBytes(
                $"HTTP/1.0 {status} {reason}\r\nContent-Type: {(body.StartsWith('{') ? "application/json" : "text/plain")}\r\nContent-Length: {payload.Length}\r\nConnection: close\r\n\r\n");
            await stream.WriteAsync(header).ConfigureAwait(false);
            await stream.WriteAsync(payload).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            // a client that went away
        }
    }

    private (int, string) Reset()
    {
        log.Reset();
        return (200, "ok\n");
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        if (_loop is not null) await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
