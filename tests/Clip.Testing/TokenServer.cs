using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Clip.Testing;

/// <summary>
/// A docker registry token server (distribution docs/spec/auth/token.md and oauth.md) for tests: GET /token with
/// optional Basic credentials, and POST /token with the password or refresh_token grant. It signs ES256 JWTs with
/// a key generated here and a self-signed certificate in the <c>x5c</c> header; <see cref="RootCertificatePath"/>
/// is what <c>docker-registry</c>'s <c>auth.token.rootcertbundle</c> trusts, so the real registry checks the
/// tokens and enforces their scopes.
/// </summary>
public sealed class TokenServer : LoopbackHttpServer
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _cert;
    private readonly TempDir _dir = new("clip-token");

    public TokenServer()
    {
        var req = new CertificateRequest("CN=clip test token issuer", _key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        _cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        RootCertificatePath = _dir.Combine("token-root.pem");
        File.WriteAllText(RootCertificatePath, _cert.ExportCertificatePem());
    }

    public const string Issuer = "clip-test-issuer";
    public const string Service = "clip-test-registry";

    /// <summary>The realm to configure in the registry.</summary>
    public string Realm => $"http://127.0.0.1:{Port}/token";

    /// <summary>PEM bundle with the signing certificate.</summary>
    public string RootCertificatePath { get; }

    /// <summary>user → password. Requests with other credentials get 401.</summary>
    public ConcurrentDictionary<string, string> Users { get; } = new();

    /// <summary>identity (refresh) token → user, for the refresh_token grant.</summary>
    public ConcurrentDictionary<string, string> RefreshTokens { get; } = new();

    /// <summary>Token lifetime reported as expires_in and put in exp.</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Which of the requested actions a principal (null: anonymous) gets on a repository. Default: users get
    /// everything they ask for; anonymous callers get pull on repositories under "public/".
    /// </summary>
    public Func<string?, string, IReadOnlyList<string>, IReadOnlyList<string>> Policy { get; set; } =
        (user, repo, actions) => user is not null ? actions : repo.StartsWith("public/", StringComparison.Ordinal) ? actions.Where(a => a == "pull").ToList() : [];

    /// <summary>One token request as received (no secrets kept besides what the test itself configured).</summary>
    public sealed record TokenRequest(string Method, string? User, string? GrantType, IReadOnlyList<string> Scopes, string? Service, bool HadBasicAuth);

    public ConcurrentQueue<TokenRequest> Requests { get; } = new();

    protected override async Task<bool> HandleAsync(HttpRequestData req, Stream conn, CancellationToken ct)
    {
        if (req.Path != "/token")
        {
            await WriteResponseAsync(conn, 404, null, null, ct);
            return true;
        }
        string? user = null, grant = null, service;
        List<string> scopes;
        bool basic = false;
        if (req.Method == "POST")
        {
            var form = Encoding.UTF8.GetString(req.Body).Split('&', StringSplitOptions.RemoveEmptyEntries)
                .Select(p => p.Split('=', 2)).ToDictionary(p => Uri.UnescapeDataString(p[0]), p => p.Length > 1 ? Uri.UnescapeDataString(p[1].Replace('+', ' ')) : "");
            grant = form.GetValueOrDefault("grant_type");
            service = form.GetValueOrDefault("service");
            scopes = (form.GetValueOrDefault("scope") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
            if (grant == "refresh_token")
            {
                if (!RefreshTokens.TryGetValue(form.GetValueOrDefault("refresh_token") ?? "", out user)) user = "\0rejected";
            }
            else if (grant == "password")
            {
                string u = form.GetValueOrDefault("username") ?? "";
                user = Users.TryGetValue(u, out string? p) && p == form.GetValueOrDefault("password") ? u : "\0rejected";
            }
            else
            {
                await WriteResponseAsync(conn, 400, null, null, ct);
                return true;
            }
        }
        else
        {
            service = req.QueryValues("service").FirstOrDefault();
            scopes = req.QueryValues("scope").SelectMany(s => s.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
            if (req.Header("Authorization") is { } auth && auth.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
            {
                basic = true;
                string decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth[6..].Trim()));
                int colon = decoded.IndexOf(':');
                string u = decoded[..colon], p = decoded[(colon + 1)..];
                user = Users.TryGetValue(u, out string? want) && want == p ? u : "\0rejected";
            }
        }
        Requests.Enqueue(new TokenRequest(req.Method, user == "\0rejected" ? null : user, grant, scopes, service, basic));
        if (user == "\0rejected")
        {
            await WriteResponseAsync(conn, 401, [KeyValuePair.Create("Content-Type", "application/json")],
                "{\"details\":\"incorrect username or password\"}"u8.ToArray(), ct);
            return true;
        }

        var access = new JsonArray();
        foreach (string scope in scopes)
        {
            // repository:<name>:<actions>; the name may itself contain ':' only in a port, which repositories do not.
            var parts = scope.Split(':');
            if (parts.Length != 3 || parts[0] != "repository") continue;
            var granted = Policy(user, parts[1], parts[2].Split(',', StringSplitOptions.RemoveEmptyEntries));
            if (granted.Count == 0) continue;
            access.Add(new JsonObject
            {
                ["type"] = "repository",
                ["name"] = parts[1],
                ["actions"] = new JsonArray(granted.Select(a => (JsonNode)JsonValue.Create(a)!).ToArray()),
            });
        }
        string token = Sign(user ?? "", access);
        var body = new JsonObject
        {
            ["token"] = token,
            ["access_token"] = token,
            ["expires_in"] = (long)TokenLifetime.TotalSeconds,
            ["issued_at"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"),
        };
        await WriteResponseAsync(conn, 200, [KeyValuePair.Create("Content-Type", "application/json")], Encoding.UTF8.GetBytes(body.ToJsonString()), ct);
        return true;
    }

    private string Sign(string subject, JsonArray access)
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new JsonObject
        {
            ["typ"] = "JWT",
            ["alg"] = "ES256",
            ["x5c"] = new JsonArray(Convert.ToBase64String(_cert.RawData)),
        };
        var claims = new JsonObject
        {
            ["iss"] = Issuer,
            ["sub"] = subject,
            ["aud"] = Service,
            ["exp"] = now + (long)TokenLifetime.TotalSeconds,
            ["nbf"] = now - 10,
            ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"),
            ["access"] = access,
        };
        string signingInput = B64(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + B64(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        byte[] sig = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return signingInput + "." + B64(sig);
    }

    private static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _key.Dispose();
        _cert.Dispose();
        _dir.Dispose();
    }
}
