using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Clip.Registry.Auth;
using Clip.Registry.Hosts;
using Microsoft.Extensions.Logging;

namespace Clip.Registry.Http;

/// <summary>
/// Sends registry requests: authentication (challenge → token → one retry), manual redirects (credentials dropped
/// when the host changes — S3 and other blob stores reject or leak a foreign Authorization), retries with backoff
/// and jitter on 5xx / 429 / resets / timeouts, per-attempt timeouts and the operation deadline, the HTTP fallback
/// for localhost, and the mapping of every failure to a <see cref="RegistryException"/>. One
/// <see cref="SocketsHttpHandler"/> (one keep-alive pool) serves every host without custom TLS.
/// </summary>
internal sealed class RegistryTransport : IDisposable
{
    private readonly RegistryClientOptions _options;
    private readonly ILogger _log;
    private readonly SocketsHttpHandler _defaultHandler;
    private readonly HttpMessageInvoker _default;
    private readonly ConcurrentDictionary<string, HttpMessageInvoker> _tlsInvokers = new();
    private readonly ConcurrentDictionary<string, bool> _plainHttp = new(StringComparer.OrdinalIgnoreCase);

    public RegistryTransport(RegistryClientOptions options, ICredentialProvider credentials, RegistryMetrics metrics, ILogger log)
    {
        _options = options;
        _log = log;
        Metrics = metrics;
        _defaultHandler = CreateHandler(null);
        _default = new HttpMessageInvoker(_defaultHandler, disposeHandler: true);
        Auth = new Authenticator(credentials, this, metrics, log, options.Clock);
    }

    public RegistryMetrics Metrics { get; }
    public Authenticator Auth { get; }
    public RegistryClientOptions Options => _options;
    public ILogger Logger => _log;

    private SocketsHttpHandler CreateHandler(RegistryHost? host)
    {
        var h = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = Math.Max(1, _options.MaxConnectionsPerServer),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            ConnectTimeout = host?.DialTimeout ?? (_options.RequestTimeout < TimeSpan.FromSeconds(30) ? _options.RequestTimeout : TimeSpan.FromSeconds(30)),
        };
        if (host is { HasCustomTls: true })
        {
            var extraRoots = new X509Certificate2Collection();
            foreach (string f in host.CaFiles)
            {
                try { extraRoots.ImportFromPemFile(f); }
                catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
                {
                    throw new RegistryException(RegistryErrorKind.Configuration, $"host {host.Authority}: cannot load CA certificate {f}: {e.Message}", e);
                }
            }
            var clientCerts = new X509CertificateCollection();
            foreach (var c in host.ClientCertificates)
            {
                try { clientCerts.Add(X509Certificate2.CreateFromPemFile(c.CertificateFile, c.KeyFile)); }
                catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
                {
                    throw new RegistryException(RegistryErrorKind.Configuration,
                        $"host {host.Authority}: cannot load client certificate {c.CertificateFile}: {e.Message}", e);
                }
            }
            bool skip = host.SkipVerify;
            h.SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = clientCerts.Count > 0 ? clientCerts : null,
                RemoteCertificateValidationCallback = (_, cert, chain, errors) =>
                {
                    if (skip || errors == SslPolicyErrors.None) return true;
                    // containerd adds the configured CAs to the system pool: a chain that fails only because its
                    // root is one of ours is accepted; a name mismatch never is.
                    if (errors != SslPolicyErrors.RemoteCertificateChainErrors || cert is null || extraRoots.Count == 0) return false;
                    using var custom = new X509Chain();
                    custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    custom.ChainPolicy.CustomTrustStore.AddRange(extraRoots);
                    custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    if (chain is not null)
                        foreach (var el in chain.ChainElements) custom.ChainPolicy.ExtraStore.Add(el.Certificate);
                    return custom.Build(cert as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(cert.GetRawCertData()));
                },
            };
        }
        return h;
    }

    private HttpMessageInvoker InvokerFor(RegistryHost host)
    {
        if (!host.NeedsOwnPool) return _default;
        string key = $"{host.DialTimeout}|{host.SkipVerify}|{string.Join(',', host.CaFiles)}|{string.Join(',', host.ClientCertificates.Select(c => c.CertificateFile + ":" + c.KeyFile))}";
        return _tlsInvokers.GetOrAdd(key, _ => new HttpMessageInvoker(CreateHandler(host), disposeHandler: true));
    }

    /// <summary>The URL for <paramref name="call"/>, with plain HTTP once the host is known not to speak TLS.</summary>
    private Uri UriFor(RegistryCall call) =>
        call.AbsoluteUri ?? call.Host.ApiUri(call.RelativePath, call.Query, _plainHttp.ContainsKey(call.Host.Authority) ? "http" : null);

    /// <summary>
    /// Sends <paramref name="call"/> until it succeeds or fails for good, then hands the response to
    /// <paramref name="consume"/>. Body-read failures inside <paramref name="consume"/> are retried like send failures.
    /// </summary>
    public async Task<T> ExecuteAsync<T>(RegistryCall call, OperationScope scope, Func<HttpResponseMessage, CancellationToken, Task<T>> consume)
    {
        int attempt = 0, redirects = 0;
        // A 401 to a request without credentials is the normal challenge (authenticate, once); a 401 or 403 to a
        // request that carried credentials may be a stale or narrow token (refresh, once). Then the answer stands.
        bool challenged = false, reauthed = false;
        bool sentCredentials = false;
        Uri uri = UriFor(call);
        // Credentials and configured headers go only to the host they belong to, never to a redirect target
        // or an upload location elsewhere.
        Uri origin = call.Host.ApiUri("");
        var invoker = InvokerFor(call.Host);
        while (true)
        {
            ThrowIfDone(scope, call);
            TimeSpan? retryAfter = null;
            string reason;
            Exception? cause = null;
            HttpResponseMessage? resp = null;
            using var attemptCts = CancellationTokenSource.CreateLinkedTokenSource(scope.Token);
            attemptCts.CancelAfter(_options.RequestTimeout);
            try
            {
                bool sameOrigin = SameOrigin(uri, origin);
                using (var req = new HttpRequestMessage(call.Method, uri) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower })
                {
                    req.Headers.UserAgent.ParseAdd(_options.UserAgent);
                    if (sameOrigin)
                    {
                        foreach (var (name, values) in call.Host.Headers) req.Headers.TryAddWithoutValidation(name, values);
                        var authz = await Auth.AuthorizeAsync(call, attemptCts.Token).ConfigureAwait(false);
                        if (authz is not null) req.Headers.Authorization = authz;
                        sentCredentials = authz is not null;
                    }
                    call.Configure?.Invoke(req);
                    if (call.Content is not null && call.Method != HttpMethod.Get && call.Method != HttpMethod.Head) req.Content = call.Content();
                    resp = await invoker.SendAsync(req, attemptCts.Token).ConfigureAwait(false);
                }
                int status = (int)resp.StatusCode;
                Metrics.Request(call.Kind, status);
                Log.Response(_log, call.Method.Method, uri.GetLeftPart(UriPartial.Path), status, RegistryMetrics.KindName(call.Kind));

                if (resp.IsSuccessStatusCode || call.PassThrough?.Invoke(resp.StatusCode) == true)
                {
                    bool handedOver = false;
                    try
                    {
                        var result = await consume(resp, attemptCts.Token).ConfigureAwait(false);
                        handedOver = call.KeepResponse;
                        return result;
                    }
                    finally
                    {
                        if (!handedOver) resp.Dispose();
                    }
                }

                if (status is 301 or 302 or 303 or 307 or 308 && resp.Headers.Location is { } location)
                {
                    if (++redirects > _options.MaxRedirects)
                        throw Fail(call, RegistryErrorKind.InvalidResponse, $"more than {_options.MaxRedirects} redirects", resp);
                    var next = location.IsAbsoluteUri ? location : new Uri(uri, location);
                    if (next.Scheme != "http" && next.Scheme != "https")
                        throw Fail(call, RegistryErrorKind.InvalidResponse, $"redirect to unsupported scheme {next.Scheme}", resp);
                    Log.Redirect(_log, uri.Authority, next.Authority, !SameOrigin(next, origin));
                    uri = next;
                    resp.Dispose();
                    continue;
                }

                if (status == 401)
                {
                    bool allowed = sentCredentials ? !reauthed : !challenged;
                    if (allowed && sameOrigin && await Auth.OnUnauthorizedAsync(call, resp, attemptCts.Token).ConfigureAwait(false))
                    {
                        if (sentCredentials) reauthed = true; else challenged = true;
                        resp.Dispose();
                        continue;
                    }
                    throw await FailAsync(call, RegistryErrorKind.Unauthorized,
                        sameOrigin ? $"unauthorized ({await Auth.DescribeCredentialsAsync(call, scope.Token).ConfigureAwait(false)})" : $"unauthorized at redirect target {uri.Authority}",
                        resp).ConfigureAwait(false);
                }
                if (status == 403)
                {
                    if (!reauthed && sentCredentials && sameOrigin && await Auth.OnForbiddenAsync(call, resp, attemptCts.Token).ConfigureAwait(false))
                    {
                        reauthed = true;
                        resp.Dispose();
                        continue;
                    }
                    throw await FailAsync(call, RegistryErrorKind.Denied,
                        $"access denied ({await Auth.DescribeCredentialsAsync(call, scope.Token).ConfigureAwait(false)})", resp).ConfigureAwait(false);
                }
                if (status is 429 or 408 or 500 or 502 or 503 or 504)
                {
                    retryAfter = Backoff.RetryAfter(resp.Headers, DateTimeOffset.UtcNow);
                    reason = status == 429 ? "throttled" : "server_error";
                    cause = await FailAsync(call, RegistryErrorKind.TooManyRetries, $"HTTP {status}", resp).ConfigureAwait(false);
                    resp.Dispose();
                }
                else
                {
                    var kind = status switch
                    {
                        404 => RegistryErrorKind.NotFound,
                        416 => RegistryErrorKind.BadRange,
                        400 => RegistryErrorKind.BadRequest,
                        _ => RegistryErrorKind.InvalidResponse,
                    };
                    string what = status switch
                    {
                        404 => "not found",
                        416 => "range not satisfiable",
                        400 => "rejected as invalid",
                        _ => "unexpected response",
                    };
                    throw await FailAsync(call, kind, what, resp).ConfigureAwait(false);
                }
            }
            catch (RegistryException)
            {
                resp?.Dispose();
                throw;
            }
            catch (OperationCanceledException) when (scope.Caller.IsCancellationRequested)
            {
                resp?.Dispose();
                throw;
            }
            catch (OperationCanceledException e)
            {
                resp?.Dispose();
                if (scope.Expired) throw Deadline(call, scope, e);
                reason = "timeout";
                cause = e;
            }
            catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.SecureConnectionError
                                                 && call.Host.HttpFallback && uri.Scheme == "https"
                                                 && SameOrigin(uri, origin))
            {
                resp?.Dispose();
                _plainHttp[call.Host.Authority] = true;
                Log.HttpFallback(_log, call.Host.Authority);
                uri = new UriBuilder(uri) { Scheme = "http", Port = uri.IsDefaultPort ? 80 : uri.Port }.Uri;
                continue;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or AuthenticationException)
            {
                resp?.Dispose();
                if (e is HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError })
                    throw new RegistryException(RegistryErrorKind.InvalidResponse,
                        $"{Prefix(call)}: TLS handshake with {uri.Authority} failed: {e.Message}", e)
                    { Registry = call.Registry, Repository = call.Repository };
                Metrics.Request(call.Kind, null);
                reason = "network";
                cause = e;
            }

            attempt++;
            Metrics.Retry(call.Kind, reason);
            if (attempt >= _options.MaxAttempts)
                throw new RegistryException(RegistryErrorKind.TooManyRetries,
                    $"{Prefix(call)}: gave up after {attempt} attempts: {Describe(cause)}", cause)
                { Registry = call.Registry, Repository = call.Repository, Subject = call.What, StatusCode = (cause as RegistryException)?.StatusCode };
            var delay = Backoff.Delay(attempt, _options.RetryBaseDelay, _options.MaxRetryDelay, retryAfter);
            if (scope.Limit is not null && delay >= scope.Remaining)
                throw Deadline(call, scope, cause, $" (the next retry would wait {delay.TotalSeconds:0.###} s)");
            Log.Retrying(_log, RegistryMetrics.KindName(call.Kind), uri.Authority, reason + ": " + Describe(cause), attempt, _options.MaxAttempts, (long)delay.TotalMilliseconds);
            try
            {
                await Task.Delay(delay, scope.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException e) when (!scope.Caller.IsCancellationRequested)
            {
                throw Deadline(call, scope, e);
            }
        }
    }

    /// <summary>
    /// A bare request with retries on transient failures and no authentication or redirects (token endpoints).
    /// Returns the status and the body (at most <paramref name="maxBody"/> bytes).
    /// </summary>
    public async Task<(HttpStatusCode Status, byte[] Body, HttpResponseHeaders Headers)> SendSimpleAsync(
        RegistryHost host, RequestKind kind, string what, Func<HttpRequestMessage> make, CancellationToken ct, int maxBody = 1 << 20)
    {
        var invoker = InvokerFor(host);
        for (int attempt = 1; ; attempt++)
        {
            using var attemptCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            attemptCts.CancelAfter(_options.RequestTimeout);
            Exception cause;
            TimeSpan? retryAfter = null;
            string reason;
            try
            {
                using var req = make();
                req.Headers.UserAgent.ParseAdd(_options.UserAgent);
                using var resp = await invoker.SendAsync(req, attemptCts.Token).ConfigureAwait(false);
                int status = (int)resp.StatusCode;
                Metrics.Request(kind, status);
                if (status is 429 or 500 or 502 or 503 or 504)
                {
                    retryAfter = Backoff.RetryAfter(resp.Headers, DateTimeOffset.UtcNow);
                    reason = status == 429 ? "throttled" : "server_error";
                    cause = new HttpRequestException($"HTTP {status}", null, resp.StatusCode);
                }
                else
                {
                    byte[] body = await ReadLimitedAsync(resp.Content, maxBody, what, attemptCts.Token).ConfigureAwait(false);
                    Metrics.Bytes(kind, body.Length);
                    return (resp.StatusCode, body, resp.Headers);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (OperationCanceledException e)
            {
                reason = "timeout";
                cause = e;
            }
            catch (Exception e) when (e is HttpRequestException or IOException && e is not RegistryException)
            {
                Metrics.Request(kind, null);
                reason = "network";
                cause = e;
            }
            Metrics.Retry(kind, reason);
            if (attempt >= _options.MaxAttempts)
                throw new RegistryException(RegistryErrorKind.TooManyRetries, $"{what}: gave up after {attempt} attempts: {Describe(cause)}", cause);
            await Task.Delay(Backoff.Delay(attempt, _options.RetryBaseDelay, _options.MaxRetryDelay, retryAfter), ct).ConfigureAwait(false);
        }
    }

    /// <summary>Reads a whole body, refusing more than <paramref name="max"/> bytes.</summary>
    public static async Task<byte[]> ReadLimitedAsync(HttpContent content, int max, string what, CancellationToken ct)
    {
        long? declared = content.Headers.ContentLength;
        if (declared > max)
            throw new RegistryException(RegistryErrorKind.InvalidResponse, $"{what}: response of {declared} bytes exceeds the limit of {max}");
        await using var s = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var ms = new MemoryStream(declared is > 0 ? (int)declared.Value : 4096);
        byte[] buf = new byte[81920];
        int n;
        while ((n = await s.ReadAsync(buf, ct).ConfigureAwait(false)) > 0)
        {
            if (ms.Length + n > max)
                throw new RegistryException(RegistryErrorKind.InvalidResponse, $"{what}: response exceeds the limit of {max} bytes");
            ms.Write(buf, 0, n);
        }
        if (declared is { } d && ms.Length != d)
            throw new IOException($"{what}: body ended after {ms.Length} of {d} bytes");
        return ms.ToArray();
    }

    private static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    private static void ThrowIfDone(OperationScope scope, RegistryCall call)
    {
        scope.Caller.ThrowIfCancellationRequested();
        if (scope.Expired) throw Deadline(call, scope, null);
    }

    public static RegistryException Deadline(RegistryCall call, OperationScope scope, Exception? cause, string extra = "") =>
        new(RegistryErrorKind.DeadlineExceeded,
            $"{Prefix(call)}: deadline of {scope.Limit?.TotalSeconds:0.###} s exceeded{extra}" + (cause is null or OperationCanceledException ? "" : $"; last error: {Describe(cause)}"), cause)
        { Registry = call.Registry, Repository = call.Repository, Subject = call.What };

    public static string Prefix(RegistryCall call) => $"registry {call.Registry}, repository {call.Repository}, {call.What}";

    private static string Describe(Exception? e) => e switch
    {
        null => "unknown error",
        OperationCanceledException => "timed out",
        RegistryException r => r.Message,
        _ => e.Message,
    };

    private static RegistryException Fail(RegistryCall call, RegistryErrorKind kind, string what, HttpResponseMessage resp) =>
        new(kind, $"{Prefix(call)}: {what} (HTTP {(int)resp.StatusCode} from {resp.RequestMessage?.RequestUri?.Authority})")
        { Registry = call.Registry, Repository = call.Repository, Subject = call.What, StatusCode = resp.StatusCode };

    /// <summary>An error carrying the registry's own error codes and messages (distribution-spec "Error Codes").</summary>
    public static async Task<RegistryException> FailAsync(RegistryCall call, RegistryErrorKind kind, string what, HttpResponseMessage resp)
    {
        var codes = new List<string>();
        string detail = "";
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            byte[] body = call.Method == HttpMethod.Head ? [] : await ReadLimitedAsync(resp.Content, 64 << 10, "error body", cts.Token).ConfigureAwait(false);
            if (body.Length > 0 && body[0] == (byte)'{')
            {
                using var doc = JsonDocument.Parse(body);
                if (doc.RootElement.TryGetProperty("errors", out var errs) && errs.ValueKind == JsonValueKind.Array)
                {
                    var parts = new List<string>();
                    foreach (var e in errs.EnumerateArray())
                    {
                        string? code = e.TryGetProperty("code", out var c) ? c.GetString() : null;
                        string? msg = e.TryGetProperty("message", out var m) ? m.GetString() : null;
                        if (code is not null) codes.Add(code);
                        parts.Add(code is null ? msg ?? "" : msg is null ? code : $"{code}: {msg}");
                    }
                    if (parts.Count > 0) detail = ", " + string.Join("; ", parts);
                }
            }
        }
        catch (Exception e) when (e is IOException or JsonException or OperationCanceledException or HttpRequestException or InvalidOperationException)
        {
            // The error body is a courtesy; the status already says what happened.
        }
        return new RegistryException(kind, $"{Prefix(call)}: {what} (HTTP {(int)resp.StatusCode} from {resp.RequestMessage?.RequestUri?.Authority}{detail})")
        {
            Registry = call.Registry, Repository = call.Repository, Subject = call.What, StatusCode = resp.StatusCode, ErrorCodes = codes,
        };
    }

    public void Dispose()
    {
        _default.Dispose();
        foreach (var i in _tlsInvokers.Values) i.Dispose();
        _tlsInvokers.Clear();
    }
}
