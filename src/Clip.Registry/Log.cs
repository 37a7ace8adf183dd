using Microsoft.Extensions.Logging;

namespace Clip.Registry;

/// <summary>
/// Every log event of the registry client, source-generated, with stable ids in 1000–1099. Secrets never appear:
/// no Authorization header, token, password or helper output is ever a parameter here.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Debug, Message = "{Method} {Url} -> {Status} ({Kind})")]
    public static partial void Response(ILogger logger, string method, string url, int status, string kind);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning,
        Message = "{Kind} request to {Host} failed ({Reason}); retry {Attempt} of {MaxAttempts} in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string kind, string host, string reason, int attempt, int maxAttempts, long delayMs);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Debug, Message = "Redirect from {FromHost} to {ToHost}; credentials dropped: {AuthDropped}")]
    public static partial void Redirect(ILogger logger, string fromHost, string toHost, bool authDropped);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information,
        Message = "{Host} does not speak TLS; falling back to plain HTTP (containerd's localhost / http:// host behaviour)")]
    public static partial void HttpFallback(ILogger logger, string host);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Host {Host} failed for {Registry} ({Reason}); trying the next configured host")]
    public static partial void HostFailed(ILogger logger, string host, string registry, string reason);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Debug, Message = "Registry at {Host} ignored a Range request and sent the whole blob; skipping {Skip} bytes")]
    public static partial void RangeIgnored(ILogger logger, string host, long skip);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning,
        Message = "Body from {Host} broke after {Position} bytes of {Digest} ({Reason}); resuming with a Range request")]
    public static partial void Resuming(ILogger logger, string host, long position, string digest, string reason);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Debug, Message = "Fetched a bearer token from {Realm} for service {Service}, scope {Scope}, valid {Seconds} s")]
    public static partial void TokenFetched(ILogger logger, string realm, string? service, string scope, long seconds);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Debug, Message = "Registry {Host} challenged with {Scheme} (error {Error})")]
    public static partial void Challenged(ILogger logger, string host, string scheme, string? error);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Warning, Message = "Token request to {Realm} failed: {Reason}")]
    public static partial void TokenFailed(ILogger logger, string realm, string reason);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Warning, Message = "Credential helper {Helper} for {Registry} failed: {Reason}; continuing without its credentials")]
    public static partial void CredentialHelperFailed(ILogger logger, string helper, string registry, string reason);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Warning, Message = "Credential helper {Helper} for {Registry} is not on PATH; continuing without it")]
    public static partial void CredentialHelperMissing(ILogger logger, string helper, string registry);

    [LoggerMessage(EventId = 1030, Level = LogLevel.Debug, Message = "Loaded {File} for {Registry}: {Count} host entries")]
    public static partial void HostsFileLoaded(ILogger logger, string registry, string file, int count);

    [LoggerMessage(EventId = 1040, Level = LogLevel.Information, Message = "Registry {Registry} has no referrers API; using the tag schema fallback {Tag}")]
    public static partial void ReferrersFallback(ILogger logger, string registry, string tag);

    [LoggerMessage(EventId = 1041, Level = LogLevel.Debug, Message = "Blob {Digest} already in {Repository}; upload skipped")]
    public static partial void BlobExists(ILogger logger, string digest, string repository);

    [LoggerMessage(EventId = 1042, Level = LogLevel.Debug, Message = "Blob {Digest} mounted into {Repository} from {From}")]
    public static partial void BlobMounted(ILogger logger, string digest, string repository, string from);
}
