using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Clip.Testing;

/// <summary>What a <see cref="FaultProxy"/> does with one request instead of (or while) forwarding it.</summary>
public abstract record Fault
{
    /// <summary>Answer <paramref name="status"/> without forwarding (e.g. 503 bursts, 429 with Retry-After).</summary>
    public static Fault Status(int status, params (string Name, string Value)[] headers) => new StatusFault(status, headers);

    /// <summary>Forward, send the headers and the first <paramref name="bytes"/> body bytes, then reset the connection (RST).</summary>
    public static Fault ResetAfter(long bytes) => new ResetFault(bytes);

    /// <summary>Reset the connection before any response.</summary>
    public static Fault ResetNow() => new ResetFault(-1);

    /// <summary>Forward without the Range header, so the registry answers 200 with the whole blob.</summary>
    public static Fault IgnoreRange() => new IgnoreRangeFault();

    /// <summary>Wait <paramref name="delay"/> before answering (slow response headers).</summary>
    public static Fault Delay(TimeSpan delay) => new DelayFault(delay);

    /// <summary>Forward, send the headers and <paramref name="bytes"/> body bytes, then go silent for <paramref name="stall"/>.</summary>
    public static Fault StallAfter(long bytes, TimeSpan stall) => new StallFault(bytes, stall);

    /// <summary>Answer 307 to <paramref name="target"/> + the request's path and query (a blob store's presigned URL, say).</summary>
    public static Fault Redirect(Uri target) => new RedirectFault(target);

    /// <summary>Forward, but flip the bits of the body byte at <paramref name="offset"/>.</summary>
    public static Fault Corrupt(long offset) => new CorruptFault(offset);

    /// <summary>Forward a Range request but cut the 206 to at most <paramref name="maxBytes"/> (a short, valid partial answer).</summary>
    public static Fault ShortRange(long maxBytes) => new ShortRangeFault(maxBytes);

    /// <summary>Forward, but replace the Content-Range header with <paramref name="value"/> (a lying registry).</summary>
    public static Fault WrongContentRange(string value) => new WrongContentRangeFault(value);

    internal sealed record StatusFault(int Code, (string Name, string Value)[] Headers) : Fault;
    internal sealed record ResetFault(long Bytes) : Fault;
    internal sealed record IgnoreRangeFault : Fault;
    internal sealed record DelayFault(TimeSpan Wait) : Fault;
    internal sealed record StallFault(long Bytes, TimeSpan Stall) : Fault;
    internal sealed record RedirectFault(Uri Target) : Fault;
    internal sealed record CorruptFault(long Offset) : Fault;
    internal sealed record ShortRangeFault(long MaxBytes) : Fault;
    internal sealed record WrongContentRangeFault(string Value) : Fault;
}

/// <summary>
/// A fault-injecting HTTP reverse proxy on 127.0.0.1 in front of a real server (the registry). Every request is
/// recorded; <see cref="Rule"/> decides per request whether to inject a <see cref="Fault"/> (return null to forward
/// faithfully). The Host header is passed through, so the registry builds upload Locations that point back here.
/// </summary>
public sealed class FaultProxy : LoopbackHttpServer
{
    private readonly Uri _upstream;
    private readonly HttpMessageInvoker _client;

    public FaultProxy(Uri upstream)
    {
        _upstream = upstream;
        _client = new HttpMessageInvoker(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
        });
    }

    public FaultProxy(string upstreamAddress) : this(new Uri($"http://{upstreamAddress}/")) { }

    /// <summary>Decides the fault for each request; null forwards it untouched. Called concurrently.</summary>
    public Func<HttpRequestData, Fault?>? Rule { get; set; }

    /// <summary>An Authorization header this proxy adds upstream (a storage host that authorises by URL, not by header).</summary>
    public string? UpstreamAuthorization { get; set; }

    /// <summary>Every request received, in arrival order, with its headers as the client sent them.</summary>
    public ConcurrentQueue<HttpRequestData> Requests { get; } = new();

    /// <summary>Requests whose path contains <paramref name="fragment"/>.</summary>
    public IReadOnlyList<HttpRequestData> RequestsTo(string fragment) => Requests.Where(r => r.Target.Contains(fragment)).ToList();

    protected override async Task<bool> HandleAsync(HttpRequestData req, Stream conn, CancellationToken ct)
    {
        Requests.Enqueue(req);
        var fault = Rule?.Invoke(req);
        switch (fault)
        {
            case Fault.StatusFault s:
                await WriteResponseAsync(conn, s.Code, s.Headers.Select(h => KeyValuePair.Create(h.Name, h.Value))
                    .Append(KeyValuePair.Create("Content-Type", "application/json")),
                    "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"injected fault\"}]}"u8.ToArray(), ct, req.Method == "HEAD");
                return true;
            case Fault.ResetFault { Bytes: < 0 }:
                Reset(conn);
                return false;
            case Fault.RedirectFault r:
                var location = new Uri(r.Target, req.Target.TrimStart('/'));
                await WriteResponseAsync(conn, 307, [KeyValuePair.Create("Location", location.ToString())], null, ct);
                return true;
            case Fault.DelayFault d:
                await Task.Delay(d.Wait, ct);
                break;
        }

        using var upstreamReq = new HttpRequestMessage(new HttpMethod(req.Method), new Uri(_upstream, req.Target.TrimStart('/')));
        foreach (var (name, values) in req.Headers)
        {
            if (IsHopByHop(name) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)) continue;
            if (name.Equals("Range", StringComparison.OrdinalIgnoreCase) && fault is Fault.IgnoreRangeFault) continue;
            if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) && UpstreamAuthorization is not null) continue;
            upstreamReq.Headers.TryAddWithoutValidation(name, values);
        }
        if (UpstreamAuthorization is not null) upstreamReq.Headers.TryAddWithoutValidation("Authorization", UpstreamAuthorization);
        if (req.Body.Length > 0 || req.Method is "PUT" or "POST" or "PATCH")
        {
            upstreamReq.Content = new ByteArrayContent(req.Body);
            if (req.Header("Content-Type") is { } ctype) upstreamReq.Content.Headers.TryAddWithoutValidation("Content-Type", ctype);
        }

        using var resp = await _client.SendAsync(upstreamReq, ct);
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var h in resp.Headers.Concat(resp.Content.Headers))
        {
            if (IsHopByHop(h.Key) || h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) continue;
            if (h.Key.Equals("Content-Range", StringComparison.OrdinalIgnoreCase) && fault is Fault.WrongContentRangeFault or Fault.ShortRangeFault) continue;
            foreach (string v in h.Value) headers.Add(KeyValuePair.Create(h.Key, v));
        }
        byte[] body = req.Method == "HEAD" ? [] : await resp.Content.ReadAsByteArrayAsync(ct);
        long declared = req.Method == "HEAD" ? resp.Content.Headers.ContentLength ?? 0 : body.Length;

        switch (fault)
        {
            case Fault.WrongContentRangeFault w:
                headers.Add(KeyValuePair.Create("Content-Range", w.Value));
                break;
            case Fault.ShortRangeFault sr when resp.StatusCode == HttpStatusCode.PartialContent && resp.Content.Headers.ContentRange is { From: { } from } cr:
                body = body.Take((int)Math.Min(sr.MaxBytes, body.Length)).ToArray();
                declared = body.Length;
                headers.Add(KeyValuePair.Create("Content-Range", $"bytes {from}-{from + body.Length - 1}/{cr.Length?.ToString() ?? "*"}"));
                break;
            case Fault.ShortRangeFault when resp.Content.Headers.ContentRange is { } cr2:
                headers.Add(KeyValuePair.Create("Content-Range", cr2.ToString()));
                break;
            case Fault.CorruptFault c when c.Offset < body.Length:
                body = (byte[])body.Clone();
                body[c.Offset] ^= 0xFF;
                break;
        }

        var status = (int)resp.StatusCode;
        switch (fault)
        {
            case Fault.ResetFault rf:
                await WriteResponseAsync(conn, status, headers, null, ct, headOnly: true, contentLength: declared);
                await conn.WriteAsync(body.AsMemory(0, (int)Math.Min(rf.Bytes, body.Length)), ct);
                await conn.FlushAsync(ct);
                // Let the client consume what was sent: an RST discards data still unread in its socket buffer,
                // and the test wants to know exactly where the body broke.
                await Task.Delay(200, ct);
                Reset(conn);
                return false;
            case Fault.StallFault st:
                await WriteResponseAsync(conn, status, headers, null, ct, headOnly: true, contentLength: declared);
                int first = (int)Math.Min(st.Bytes, body.Length);
                await conn.WriteAsync(body.AsMemory(0, first), ct);
                await conn.FlushAsync(ct);
                await Task.Delay(st.Stall, ct);
                await conn.WriteAsync(body.AsMemory(first), ct);
                await conn.FlushAsync(ct);
                return true;
            default:
                await WriteResponseAsync(conn, status, headers, body, ct, headOnly: req.Method == "HEAD", contentLength: declared);
                return true;
        }
    }

    private static bool IsHopByHop(string name) =>
        name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) || name.Equals("TE", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Trailer", StringComparison.OrdinalIgnoreCase) || name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase);

    /// <summary>Closes with RST (linger 0) rather than FIN, as a crashed peer or middlebox would.</summary>
    private static void Reset(Stream conn)
    {
        if (conn is NetworkStream ns)
        {
            ns.Socket.LingerState = new LingerOption(true, 0);
            ns.Socket.Close();
        }
        else
        {
            conn.Dispose();
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _client.Dispose();
    }
}
