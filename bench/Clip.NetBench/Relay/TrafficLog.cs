using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Serialization;

namespace Clip.NetBench.Relay;

/// <summary>One HTTP exchange seen by the relay: what was asked and how many bytes the registry sent back.</summary>
public sealed class RequestRecord
{
    public long Id { get; init; }
    public int Connection { get; init; }
    public string Method { get; init; } = "";
    public string Target { get; init; } = "";
    public string? Range { get; init; }
    /// <summary>Who asked (containerd/1.6.x, clip/0.1, ...): separates clip's own fetches from containerd's.</summary>
    public string? UserAgent { get; init; }
    public int Status { get; set; }
    public string? ContentRange { get; set; }
    /// <summary>Request head and body bytes (client to registry).</summary>
    public long RequestBytes { get; set; }
    /// <summary>Response head bytes (registry to client).</summary>
    public long ResponseHeadBytes { get; set; }
    /// <summary>Response body bytes, chunk framing included (registry to client).</summary>
    public long ResponseBodyBytes { get; set; }
    /// <summary>Milliseconds since the last reset when the request head was complete.</summary>
    public double StartMs { get; set; }
    public double? EndMs { get; set; }
    public bool Done { get; set; }
    /// <summary>Started before the last reset; only bytes since the reset are counted.</summary>
    public bool CarriedOver { get; set; }

    [JsonIgnore] public long ResponseBytes => ResponseHeadBytes + ResponseBodyBytes;
}

/// <summary>What <c>GET /stats</c> answers: totals since the last reset and every request touched since.</summary>
public sealed class TrafficStats
{
    public double ElapsedMs { get; init; }
    /// <summary>All bytes the registry sent on any relayed connection (TCP payload).</summary>
    public long BytesDown { get; init; }
    /// <summary>All bytes clients sent to the registry.</summary>
    public long BytesUp { get; init; }
    public int Connections { get; init; }
    public double OneWayDelayMs { get; init; }
    public List<RequestRecord> Requests { get; init; } = [];
}

/// <summary>
/// Byte accounting for the relay, shared by all connections: raw TCP totals (counted as bytes are
/// read from either side, before any delay) and per-request records from the HTTP meters.
/// <see cref="Reset"/> starts a new measurement window; requests still in flight carry over with
/// their counters zeroed.
/// </summary>
public sealed class TrafficLog(TimeSpan oneWayDelay, TextWriter? requestLog = null)
{
    private readonly Lock _lock = new();
    private List<RequestRecord> _records = [];
    private long _down, _up, _nextId;
    private int _connections, _nextConnection;
    private long _epoch = Stopwatch.GetTimestamp();

    public MeteredConnection Open()
    {
        lock (_lock)
        {
            _connections++;
            return new MeteredConnection(this, ++_nextConnection);
        }
    }

    public void CountDown(int bytes)
    {
        lock (_lock) _down += bytes;
    }

    public void CountUp(int bytes)
    {
        lock (_lock) _up += bytes;
    }

    internal RequestRecord Begin(int connection, HttpHead head, int headBytes)
    {
        var (method, target) = head.Words;
        lock (_lock)
        {
            var r = new RequestRecord
            {
                Id = ++_nextId, Connection = connection, Method = method, Target = target, Range = head.Header("range"), UserAgent = head.Header("user-agent"),
                RequestBytes = headBytes, StartMs = NowMs(),
            };
            _records.Add(r);
            return r;
        }
    }

    /// <summary>A record for a response nobody asked for (should not happen; kept so no byte goes missing).</summary>
    internal RequestRecord Unmatched(int connection) => Begin(connection,
        new HttpHead { StartLine = "? (unmatched-response)", Headers = new(StringComparer.OrdinalIgnoreCase) }, 0);

    internal void Update(RequestRecord r, Action<RequestRecord> change)
    {
        lock (_lock) change(r);
    }

    internal void Complete(RequestRecord r)
    {
        lock (_lock)
        {
            r.Done = true;
            r.EndMs = NowMs();
        }
        requestLog?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{DateTime.UtcNow:HH:mm:ss.fff} c{r.Connection} {r.Method} {r.Target} range={r.Range ?? "-"} -> {r.Status} {r.ResponseBodyBytes}+{r.ResponseHeadBytes} B in {r.EndMs - r.StartMs:0.0} ms"));
    }

    /// <summary>Starts a new window: totals zeroed, finished records dropped, running ones zeroed and carried over.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _down = _up = 0;
            _connections = 0;
            var running = _records.Where(r => !r.Done).ToList();
            foreach (var r in running)
            {
                r.RequestBytes = r.ResponseHeadBytes = r.ResponseBodyBytes = 0;
                r.CarriedOver = true;
                r.StartMs = 0;
            }
            _records = running;
            _epoch = Stopwatch.GetTimestamp();
        }
    }

    public TrafficStats Snapshot()
    {
        lock (_lock)
        {
            return new TrafficStats
            {
                ElapsedMs = NowMs(), BytesDown = _down, BytesUp = _up, Connections = _connections, OneWayDelayMs = oneWayDelay.TotalMilliseconds,
                Requests = _records.Select(Copy).ToList(),
            };
        }
    }

    private static RequestRecord Copy(RequestRecord r) => new()
    {
        Id = r.Id, Connection = r.Connection, Method = r.Method, Target = r.Target, Range = r.Range, UserAgent = r.UserAgent, Status = r.Status, ContentRange = r.ContentRange,
        RequestBytes = r.RequestBytes, ResponseHeadBytes = r.ResponseHeadBytes, ResponseBodyBytes = r.ResponseBodyBytes,
        StartMs = r.StartMs, EndMs = r.EndMs, Done = r.Done, CarriedOver = r.CarriedOver,
    };

    private double NowMs() => Stopwatch.GetElapsedTime(_epoch).TotalMilliseconds;
}

/// <summary>
/// One relayed TCP connection: an HTTP meter per direction; responses are matched to requests in
/// order (HTTP/1.1 without pipelining, which is what registry clients do).
/// </summary>
public sealed class MeteredConnection
{
    private readonly TrafficLog _log;
    private readonly Queue<RequestRecord> _awaiting = new();
    private readonly Lock _lock = new();
    private RequestRecord? _sending, _receiving;

    internal MeteredConnection(TrafficLog log, int id)
    {
        _log = log;
        Id = id;
        Requests = new HttpStreamMeter(new RequestSide(this));
        Responses = new HttpStreamMeter(new ResponseSide(this));
    }

    public int Id { get; }

    /// <summary>Feed with bytes from the client.</summary>
    public HttpStreamMeter Requests { get; }

    /// <summary>Feed with bytes from the registry.</summary>
    public HttpStreamMeter Responses { get; }

    private sealed class RequestSide(MeteredConnection c) : IHttpMessageSink
    {
        public BodyFraming OnHead(HttpHead head, int headBytes)
        {
            var r = c._log.Begin(c.Id, head, headBytes);
            c._sending = r;
            lock (c._lock) c._awaiting.Enqueue(r);
            if (head.Chunked) return new BodyFraming(BodyKind.Chunked);
            return new BodyFraming(BodyKind.Fixed, head.ContentLength ?? 0);
        }

        public void OnBody(int bytes)
        {
            if (c._sending is { } r) c._log.Update(r, x => x.RequestBytes += bytes);
        }

        public void OnEnd() => c._sending = null;
        public void OnOpaque(int bytes) { }
    }

    private sealed class ResponseSide(MeteredConnection c) : IHttpMessageSink
    {
        public BodyFraming OnHead(HttpHead head, int headBytes)
        {
            int status = head.Status;
            RequestRecord r;
            lock (c._lock)
            {
                if (status is >= 100 and < 200 and not 101)
                {
                    // 100 Continue and friends: an interim answer, the final one follows.
                    if (c._awaiting.TryPeek(out var waiting)) c._log.Update(waiting, x => x.ResponseHeadBytes += headBytes);
                    return BodyFraming.None;
                }
                r = c._awaiting.TryDequeue(out var next) ? next : c._log.Unmatched(c.Id);
            }
            c._receiving = r;
            c._log.Update(r, x =>
            {
                x.Status = status;
                x.ContentRange = head.Header("content-range");
                x.ResponseHeadBytes += headBytes;
            });
            if (status == 101) return new BodyFraming(BodyKind.Opaque);
            if (r.Method == "HEAD" || status is 204 or 304) return BodyFraming.None;
            if (head.Chunked) return new BodyFraming(BodyKind.Chunked);
            if (head.ContentLength is { } n) return new BodyFraming(BodyKind.Fixed, n);
            return new BodyFraming(BodyKind.UntilClose);
        }

        public void OnBody(int bytes)
        {
            if (c._receiving is { } r) c._log.Update(r, x => x.ResponseBodyBytes += bytes);
        }

        public void OnEnd()
        {
            if (c._receiving is { } r) c._log.Complete(r);
            c._receiving = null;
        }

        public void OnOpaque(int bytes) { }
    }

    /// <summary>Both directions ended: whatever is still open is complete (or cut off) now.</summary>
    public void Close()
    {
        Responses.Close();
        if (_receiving is { } r && !r.Done) _log.Complete(r);
        lock (_lock)
        {
            while (_awaiting.TryDequeue(out var w))
                if (!w.Done) _log.Complete(w);
        }
    }
}
