using System.Diagnostics.Metrics;

namespace Clip.Registry;

/// <summary>What a request was for; the bounded "kind" label of every registry metric.</summary>
public enum RequestKind
{
    Ping,
    Manifest,
    ManifestPush,
    Blob,
    BlobRange,
    BlobHead,
    BlobUpload,
    Referrers,
    Token,
}

/// <summary>
/// The registry client's counters on a <see cref="Meter"/> named <see cref="MeterName"/>. Label values come from
/// fixed sets (request kind, status class, reason, outcome) — never a digest, path, host or URL.
/// </summary>
public sealed class RegistryMetrics : IDisposable
{
    public const string MeterName = "Clip.Registry";

    private readonly bool _ownsMeter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _ranges;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _auth;

    public RegistryMetrics(Meter? meter = null)
    {
        _ownsMeter = meter is null;
        Meter = meter ?? new Meter(MeterName, "1.0");
        _requests = Meter.CreateCounter<long>("clip.registry.requests", "{request}", "HTTP requests sent, by kind and status class (2xx..5xx, or error for no response)");
        _ranges = Meter.CreateCounter<long>("clip.registry.range_requests", "{request}", "Range GETs, by outcome (partial, full_body, not_satisfiable)");
        _bytes = Meter.CreateCounter<long>("clip.registry.bytes_received", "By", "Response body bytes read, by kind (bytes skipped from an ignored Range included)");
        _retries = Meter.CreateCounter<long>("clip.registry.retries", "{retry}", "Retries, by kind and reason (server_error, throttled, network, timeout, resume)");
        _auth = Meter.CreateCounter<long>("clip.registry.auth_round_trips", "{round_trip}", "Authentication round trips, by scheme (bearer, basic) and outcome (ok, rejected, error)");
    }

    public Meter Meter { get; }

    internal void Request(RequestKind kind, int? status) =>
        _requests.Add(1, new("kind", KindName(kind)), new("status_class", status is { } s ? StatusClass(s) : "error"));

    internal void Range(string outcome) => _ranges.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    internal void Bytes(RequestKind kind, long n)
    {
        if (n > 0) _bytes.Add(n, new KeyValuePair<string, object?>("kind", KindName(kind)));
    }

    internal void Retry(RequestKind kind, string reason) =>
        _retries.Add(1, new("kind", KindName(kind)), new("reason", reason));

    internal void Auth(string scheme, string outcome) =>
        _auth.Add(1, new("scheme", scheme), new("outcome", outcome));

    public static string KindName(RequestKind kind) => kind switch
    {
        RequestKind.Ping => "ping",
        RequestKind.Manifest => "manifest",
        RequestKind.ManifestPush => "manifest_push",
        RequestKind.Blob => "blob",
        RequestKind.BlobRange => "blob_range",
        RequestKind.BlobHead => "blob_head",
        RequestKind.BlobUpload => "blob_upload",
        RequestKind.Referrers => "referrers",
        RequestKind.Token => "token",
        _ => "other",
    };

    private static string StatusClass(int s) => s switch
    {
        >= 200 and < 300 => "2xx",
        >= 300 and < 400 => "3xx",
        >= 400 and < 500 => "4xx",
        >= 500 and < 600 => "5xx",
        _ => "other",
    };

    public void Dispose()
    {
        if (_ownsMeter) Meter.Dispose();
    }
}
