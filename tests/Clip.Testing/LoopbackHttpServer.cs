using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Clip.Testing;

/// <summary>One parsed HTTP/1.1 request as a <see cref="LoopbackHttpServer"/> received it.</summary>
public sealed class HttpRequestData
{
    public required string Method { get; init; }
    /// <summary>The request target as sent: path and query ("/v2/x/blobs/sha256:…?ns=a").</summary>
    public required string Target { get; init; }
    public required Dictionary<string, List<string>> Headers { get; init; }
    public byte[] Body { get; init; } = [];

    public string Path => Target.Split('?', 2)[0];
    public string Query => Target.Contains('?') ? Target.Split('?', 2)[1] : "";

    /// <summary>The first value of header <paramref name="name"/>, or null.</summary>
    public string? Header(string name) => Headers.TryGetValue(name, out var v) && v.Count > 0 ? v[0] : null;

    /// <summary>A query parameter's values, decoded.</summary>
    public IReadOnlyList<string> QueryValues(string name) =>
        Query.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => Uri.UnescapeDataString(p[0]) == name)
            .Select(p => p.Length > 1 ? Uri.UnescapeDataString(p[1].Replace('+', ' ')) : "")
            .ToList();
}

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 with a free port, over a raw <see cref="TcpListener"/> so a test can
/// misbehave at the byte level (reset mid-body, stall, lie in headers). Keep-alive is supported; each request
/// goes to <see cref="HandleAsync"/>, which writes the whole response itself. Anything that is not HTTP (a TLS
/// ClientHello, say) closes the connection.
/// </summary>
public abstract class LoopbackHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _connections = [];
    private readonly Task _acceptLoop;

    protected LoopbackHttpServer()
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }

    private int _accepted;

    /// <summary>TCP connections accepted so far (keep-alive reuse shows as fewer connections than requests).</summary>
    public int ConnectionsAccepted => Volatile.Read(ref _accepted);

    /// <summary>"127.0.0.1:port".</summary>
    public string Address => $"127.0.0.1:{Port}";

    public Uri BaseUri => new($"http://127.0.0.1:{Port}/");

    /// <summary>Writes the response to <paramref name="req"/>. Return false to close the connection afterwards.</summary>
    protected abstract Task<bool> HandleAsync(HttpRequestData req, Stream connection, CancellationToken ct);

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            Interlocked.Increment(ref _accepted);
            lock (_connections) _connections.Add(client);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        try
        {
            client.NoDelay = true;
            var stream = client.GetStream();
            var reader = new RequestReader(stream);
            while (!_stop.IsCancellationRequested)
            {
                var req = await reader.ReadAsync(_stop.Token);
                if (req is null) break;
                bool keep = await HandleAsync(req, stream, _stop.Token);
                if (!keep || string.Equals(req.Header("Connection"), "close", StringComparison.OrdinalIgnoreCase)) break;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidDataException)
        {
            // The peer went away or sent garbage: this connection is done.
        }
        finally
        {
            lock (_connections) _connections.Remove(client);
            client.Dispose();
        }
    }

    /// <summary>Writes a complete response with Content-Length.</summary>
    public static async Task WriteResponseAsync(Stream s, int status, IEnumerable<KeyValuePair<string, string>>? headers, byte[]? body,
        CancellationToken ct, bool headOnly = false, long? contentLength = null)
    {
        var sb = new StringBuilder();
        sb.Append("HTTP/1.1 ").Append(status).Append(' ').Append(Reason(status)).Append("\r\n");
        bool hasLength = false;
        foreach (var (k, v) in headers ?? [])
        {
            if (k.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) hasLength = true;
            sb.Append(k).Append(": ").Append(v).Append("\r\n");
        }
        if (!hasLength) sb.Append("Content-Length: ").Append(contentLength ?? body?.Length ?? 0).Append("\r\n");
        sb.Append("\r\n");
        await s.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()), ct);
        if (!headOnly && body is { Length: > 0 }) await s.WriteAsync(body, ct);
        await s.FlushAsync(ct);
    }

    public static string Reason(int status) => status switch
    {
        200 => "OK", 201 => "Created", 202 => "Accepted", 204 => "No Content", 206 => "Partial Content",
        301 => "Moved Permanently", 302 => "Found", 307 => "Temporary Redirect", 308 => "Permanent Redirect",
        400 => "Bad Request", 401 => "Unauthorized", 403 => "Forbidden", 404 => "Not Found", 405 => "Method Not Allowed",
        416 => "Range Not Satisfiable", 429 => "Too Many Requests",
        500 => "Internal Server Error", 502 => "Bad Gateway", 503 => "Service Unavailable", 504 => "Gateway Timeout",
        _ => "Status",
    };

    public virtual async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_connections)
        {
            foreach (var c in _connections) c.Dispose();
            _connections.Clear();
        }
        try { await _acceptLoop; } catch (Exception) { }
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Reads requests off a connection, keeping bytes that arrive ahead of need.</summary>
    private sealed class RequestReader(Stream s)
    {
        private readonly byte[] _buf = new byte[64 * 1024];
        private int _start, _end;

        public async Task<HttpRequestData?> ReadAsync(CancellationToken ct)
        {
            string? requestLine = await ReadLineAsync(ct);
            if (requestLine is null) return null;
            var parts = requestLine.Split(' ');
            if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
                throw new InvalidDataException("not an HTTP/1.x request line");
            var headers = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
            while (true)
            {
                string? line = await ReadLineAsync(ct) ?? throw new IOException("connection closed in headers");
                if (line.Length == 0) break;
                int colon = line.IndexOf(':');
                if (colon <= 0) throw new InvalidDataException("bad header line");
                string name = line[..colon].Trim();
                if (!headers.TryGetValue(name, out var list)) headers[name] = list = [];
                list.Add(line[(colon + 1)..].Trim());
            }
            byte[] body = [];
            if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Any(v => v.Contains("chunked", StringComparison.OrdinalIgnoreCase)))
            {
                var ms = new MemoryStream();
                while (true)
                {
                    string size = await ReadLineAsync(ct) ?? throw new IOException("connection closed in chunked body");
                    int n = Convert.ToInt32(size.Split(';')[0].Trim(), 16);
                    if (n == 0)
                    {
                        while (!string.IsNullOrEmpty(await ReadLineAsync(ct))) { }
                        break;
                    }
                    ms.Write(await ReadExactAsync(n, ct));
                    await ReadLineAsync(ct);
                }
                body = ms.ToArray();
            }
            else if (headers.TryGetValue("Content-Length", out var cl) && long.TryParse(cl[0], out long len) && len > 0)
            {
                body = await ReadExactAsync((int)len, ct);
            }
            return new HttpRequestData { Method = parts[0], Target = parts[1], Headers = headers, Body = body };
        }

        private async Task<byte[]> ReadExactAsync(int n, CancellationToken ct)
        {
            byte[] result = new byte[n];
            int have = Math.Min(n, _end - _start);
            Array.Copy(_buf, _start, result, 0, have);
            _start += have;
            if (have < n) await s.ReadExactlyAsync(result.AsMemory(have), ct);
            return result;
        }

        private async Task<string?> ReadLineAsync(CancellationToken ct)
        {
            var sb = new StringBuilder();
            while (true)
            {
                if (_start == _end)
                {
                    _start = 0;
                    _end = await s.ReadAsync(_buf, ct);
                    if (_end == 0) return sb.Length == 0 ? null : throw new IOException("connection closed mid-line");
                }
                while (_start < _end)
                {
                    byte b = _buf[_start++];
                    if (b == '\n')
                    {
                        if (sb.Length > 0 && sb[^1] == '\r') sb.Length--;
                        return sb.ToString();
                    }
                    if (b < 0x09 || (b > 0x0d && b < 0x20) || b > 0x7e) throw new InvalidDataException("binary data where HTTP text was expected");
                    sb.Append((char)b);
                    if (sb.Length > 16 * 1024) throw new InvalidDataException("line too long");
                }
            }
        }
    }
}
