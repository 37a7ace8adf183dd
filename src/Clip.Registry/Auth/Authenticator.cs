using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Clip.Registry.Hosts;
using Clip.Registry.Http;
using Microsoft.Extensions.Logging;

namespace Clip.Registry.Auth;

/// <summary>
/// Per-host authentication state, learnt from challenges: anonymous until a 401 says otherwise, then Basic with
/// the host's credentials, or Bearer tokens from the challenge's realm (distribution docs/spec/auth/token.md and
/// oauth.md), cached per scope set until shortly before they expire. Tokens and passwords never reach a log.
/// </summary>
internal sealed class Authenticator
{
    private readonly ICredentialProvider _credentials;
    private readonly RegistryTransport _transport;
    private readonly RegistryMetrics _metrics;
    private readonly ILogger _log;
    private readonly TimeProvider _clock;
    private readonly ConcurrentDictionary<string, HostState> _hosts = new(StringComparer.OrdinalIgnoreCase);

    public Authenticator(ICredentialProvider credentials, RegistryTransport transport, RegistryMetrics metrics, ILogger log, TimeProvider clock)
    {
        _credentials = credentials;
        _transport = transport;
        _metrics = metrics;
        _log = log;
        _clock = clock;
    }

    private sealed class HostState
    {
        public volatile string Scheme = "";   // "", "basic", "bearer"
        public volatile string? Realm;
        public volatile string? Service;
        public readonly ConcurrentDictionary<string, CachedToken> Tokens = new();
        public readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new();
        public volatile string? RefreshToken;
    }

    private sealed record CachedToken(string Token, DateTimeOffset RefreshAt, IReadOnlySet<string> Scopes);

    /// <summary>The Authorization header for <paramref name="call"/>, or null while the host has not asked for one.</summary>
    public async ValueTask<AuthenticationHeaderValue?> AuthorizeAsync(RegistryCall call, CancellationToken ct)
    {
        if (!_hosts.TryGetValue(call.Host.Authority, out var state)) return null;
        switch (state.Scheme)
        {
            case "basic":
                var cred = await CredentialAsync(call, ct).ConfigureAwait(false);
                return cred is { HasPassword: true } ? new AuthenticationHeaderValue("Basic", cred.BasicParameter()) : null;
            case "bearer":
                string token = await TokenAsync(call, state, call.Scopes, forceRefresh: false, ct).ConfigureAwait(false);
                return new AuthenticationHeaderValue("Bearer", token);
            default:
                return null;
        }
    }

    /// <summary>Handles a 401: learns the challenge and gets a token for it. True when a retry can succeed.</summary>
    public async Task<bool> OnUnauthorizedAsync(RegistryCall call, HttpResponseMessage resp, CancellationToken ct)
    {
        var challenges = AuthChallenge.Parse(resp.Headers.WwwAuthenticate.Select(h => h.ToString()));
        var bearer = challenges.FirstOrDefault(c => c.IsBearer && !string.IsNullOrEmpty(c.Realm));
        var state = _hosts.GetOrAdd(call.Host.Authority, _ => new HostState());
        if (bearer is not null)
        {
            Log.Challenged(_log, call.Host.Authority, "Bearer", bearer.Error);
            if (!Uri.TryCreate(bearer.Realm, UriKind.Absolute, out var realm) || (realm.Scheme != "https" && realm.Scheme != "http"))
                throw new RegistryException(RegistryErrorKind.InvalidResponse,
                    $"{RegistryTransport.Prefix(call)}: bearer challenge has an invalid realm \"{bearer.Realm}\"")
                { Registry = call.Registry, Repository = call.Repository };
            bool sameRealm = state.Scheme == "bearer" && state.Realm == bearer.Realm && state.Service == bearer.Service;
            state.Realm = bearer.Realm;
            state.Service = bearer.Service;
            state.Scheme = "bearer";
            if (!sameRealm) state.Tokens.Clear();
            var scopes = call.Scopes.Union(bearer.Scopes).ToList();
            await TokenAsync(call, state, scopes, forceRefresh: true, ct).ConfigureAwait(false);
            return true;
        }
        if (challenges.Any(c => c.IsBasic))
        {
            Log.Challenged(_log, call.Host.Authority, "Basic", null);
            var cred = await CredentialAsync(call, ct).ConfigureAwait(false);
            bool first = state.Scheme != "basic";
            state.Scheme = "basic";
            _metrics.Auth("basic", cred is { HasPassword: true } ? "ok" : "rejected");
            // Retry only if there is something new to send.
            return first && cred is { HasPassword: true };
        }
        return false;
    }

    /// <summary>Handles a 403: a stale or narrow token may be the cause, so fetch a fresh one once.</summary>
    public async Task<bool> OnForbiddenAsync(RegistryCall call, HttpResponseMessage resp, CancellationToken ct)
    {
        if (!_hosts.TryGetValue(call.Host.Authority, out var state) || state.Scheme != "bearer") return false;
        var challenges = AuthChallenge.Parse(resp.Headers.WwwAuthenticate.Select(h => h.ToString()));
        var scopes = call.Scopes.Union(challenges.Where(c => c.IsBearer).SelectMany(c => c.Scopes)).ToList();
        await TokenAsync(call, state, scopes, forceRefresh: true, ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>"no credentials" / "user \"x\" (source)", for error messages.</summary>
    public async Task<string> DescribeCredentialsAsync(RegistryCall call, CancellationToken ct)
    {
        try
        {
            var c = await CredentialAsync(call, ct).ConfigureAwait(false);
            return c is null ? "no credentials configured for " + CredentialKey(call) : "credentials: " + c;
        }
        catch (Exception e) when (e is RegistryException or OperationCanceledException)
        {
            return "credentials unavailable";
        }
    }

    private static string CredentialKey(RegistryCall call) => call.Host.MirrorOf is null ? call.Registry : call.Host.Authority;

    private ValueTask<RegistryCredential?> CredentialAsync(RegistryCall call, CancellationToken ct) =>
        _credentials.GetAsync(CredentialKey(call), ct);

    private static string ScopeKey(IEnumerable<string> scopes) => string.Join(' ', scopes.Distinct().Order(StringComparer.Ordinal));

    private async Task<string> TokenAsync(RegistryCall call, HostState state, IReadOnlyList<string> scopes, bool forceRefresh, CancellationToken ct)
    {
        string key = ScopeKey(scopes);
        var now = _clock.GetUtcNow();
        if (!forceRefresh && state.Tokens.TryGetValue(key, out var cached) && cached.RefreshAt > now) return cached.Token;

        var before = state.Tokens.GetValueOrDefault(key);
        var gate = state.Gates.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // Single flight per scope set: another caller may have fetched a token while this one waited.
            var current = state.Tokens.GetValueOrDefault(key);
            if (current is not null && current.RefreshAt > _clock.GetUtcNow() && (!forceRefresh || !ReferenceEquals(current, before)))
                return current.Token;
            var fresh = await FetchTokenAsync(call, state, scopes, ct).ConfigureAwait(false);
            state.Tokens[key] = fresh;
            return fresh.Token;
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<CachedToken> FetchTokenAsync(RegistryCall call, HostState state, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        string realm = state.Realm ?? throw new InvalidOperationException("no realm");
        var cred = await CredentialAsync(call, ct).ConfigureAwait(false);
        string scopeList = string.Join(' ', scopes);
        string what = $"token request to {new Uri(realm).Authority} for {call.Registry}";
        var realmHost = new RegistryHost { Scheme = "https", Authority = new Uri(realm).Authority, CaFiles = call.Host.CaFiles, ClientCertificates = call.Host.ClientCertificates, SkipVerify = call.Host.SkipVerify };

        (HttpStatusCode Status, byte[] Body, HttpResponseHeaders Headers) result;
        string? refresh = cred?.IdentityToken ?? state.RefreshToken;
        if (refresh is not null)
        {
            // OAuth2 refresh-token grant (distribution docs/spec/auth/oauth.md).
            var form = new List<KeyValuePair<string, string>>
            {
                new("grant_type", "refresh_token"),
                new("refresh_token", refresh),
                new("client_id", "clip"),
            };
            if (state.Service is { } svc) form.Add(new("service", svc));
            if (scopeList.Length > 0) form.Add(new("scope", scopeList));
            result = await _transport.SendSimpleAsync(realmHost, RequestKind.Token, what,
                () => new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) }, ct).ConfigureAwait(false);
            if (result.Status is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
                result = await GetTokenAsync(realm, state, scopes, cred, realmHost, what, ct).ConfigureAwait(false);
        }
        else
        {
            result = await GetTokenAsync(realm, state, scopes, cred, realmHost, what, ct).ConfigureAwait(false);
        }

        if (result.Status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            _metrics.Auth("bearer", "rejected");
            Log.TokenFailed(_log, realm, $"HTTP {(int)result.Status}");
            throw new RegistryException(RegistryErrorKind.Unauthorized,
                $"registry {call.Registry}, repository {call.Repository}: token server {new Uri(realm).Authority} rejected "
                + (cred is null ? "anonymous access" : cred.ToString()) + $" (HTTP {(int)result.Status})")
            { Registry = call.Registry, Repository = call.Repository, Subject = call.What, StatusCode = result.Status };
        }
        if (result.Status != HttpStatusCode.OK)
        {
            _metrics.Auth("bearer", "error");
            Log.TokenFailed(_log, realm, $"HTTP {(int)result.Status}");
            throw new RegistryException(RegistryErrorKind.InvalidResponse,
                $"registry {call.Registry}: token server {new Uri(realm).Authority} answered HTTP {(int)result.Status}")
            { Registry = call.Registry, Repository = call.Repository, StatusCode = result.Status };
        }

        string? token = null, newRefresh = null, issuedAt = null;
        long expiresIn = 0;
        try
        {
            using var doc = JsonDocument.Parse(result.Body);
            var r = doc.RootElement;
            token = Str(r, "token") ?? Str(r, "access_token");
            newRefresh = Str(r, "refresh_token");
            issuedAt = Str(r, "issued_at");
            if (r.TryGetProperty("expires_in", out var e) && e.ValueKind == JsonValueKind.Number) expiresIn = e.GetInt64();
        }
        catch (JsonException) { }
        if (string.IsNullOrEmpty(token))
        {
            _metrics.Auth("bearer", "error");
            throw new RegistryException(RegistryErrorKind.InvalidResponse,
                $"registry {call.Registry}: token server {new Uri(realm).Authority} sent no token")
            { Registry = call.Registry, Repository = call.Repository };
        }
        if (newRefresh is not null) state.RefreshToken = newRefresh;

        // Token spec: expires_in defaults to 60 s; issued_at anchors it when present.
        if (expiresIn <= 0) expiresIn = 60;
        var now = _clock.GetUtcNow();
        var issued = issuedAt is not null && DateTimeOffset.TryParse(issuedAt, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal, out var ia) && ia <= now ? ia : now;
        var expires = issued.AddSeconds(expiresIn);
        // Refresh a little early so a token does not expire in flight: 10% of its life, at most 30 s.
        var margin = TimeSpan.FromSeconds(Math.Min(30, expiresIn / 10.0));
        _metrics.Auth("bearer", "ok");
        Log.TokenFetched(_log, realm, state.Service, string.Join(' ', scopes), expiresIn);
        return new CachedToken(token, expires - margin, scopes.ToHashSet());

        static string? Str(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }

    private Task<(HttpStatusCode, byte[], HttpResponseHeaders)> GetTokenAsync(string realm, HostState state, IReadOnlyList<string> scopes,
        RegistryCredential? cred, RegistryHost realmHost, string what, CancellationToken ct)
    {
        var q = new List<string>();
        if (state.Service is { } svc) q.Add("service=" + Uri.EscapeDataString(svc));
        foreach (string s in scopes) q.Add("scope=" + Uri.EscapeDataString(s));
        if (cred is { HasPassword: true }) q.Add("account=" + Uri.EscapeDataString(cred.Username!));
        string url = realm + (q.Count == 0 ? "" : (realm.Contains('?') ? "&" : "?") + string.Join('&', q));
        return _transport.SendSimpleAsync(realmHost, RequestKind.Token, what, () =>
        {
            var req = new HttpRequestMessage(HttpMethod.Get, url);
            if (cred is { HasPassword: true }) req.Headers.Authorization = new AuthenticationHeaderValue("Basic", cred.BasicParameter());
            return req;
        }, ct);
    }
}
