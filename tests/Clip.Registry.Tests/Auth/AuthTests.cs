using Clip.Oci;
using Clip.Registry.Auth;
using Clip.Testing;

namespace Clip.Registry.Tests.Auth;

/// <summary>
/// The real registry with token auth (auth.token, tokens signed by <see cref="TokenServer"/> and checked by the
/// registry): the full WWW-Authenticate → token → retry flow, scopes, caching, expiry and refusals.
/// </summary>
public sealed class TokenRegistryFixture : IAsyncLifetime
{
    private readonly TempDir _dir = new("clip-tokenreg");
    public TokenServer Tokens { get; } = new();
    public RegistryServer Server { get; private set; } = null!;
    public OciLayoutBuilder.Image Image { get; private set; } = null!;
    public string Registry => Server.Address;

    public async Task InitializeAsync()
    {
        Tokens.Users["alice"] = "wonderland";
        Tokens.Users["bob"] = "builder";
        Tokens.RefreshTokens["alice-identity-token"] = "alice";
        var basePolicy = Tokens.Policy;
        // bob may only read.
        Tokens.Policy = (user, repo, actions) => user == "bob" ? actions.Where(a => a == "pull").ToList() : basePolicy(user, repo, actions);
        Server = await RegistryServer.StartAsync(new RegistryServerOptions { TokenAuth = Tokens });
        var layout = new OciLayoutBuilder(_dir.Combine("layout"));
        Image = TestImages.Simple(layout, "img", 1, 100_000, seed: 5);
        await Server.PushOciLayoutAsync(layout.Directory, "img", "private/app", "v1", credentials: "alice:wonderland");
        await Server.PushOciLayoutAsync(layout.Directory, "img", "public/app", "v1", credentials: "alice:wonderland");
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Tokens.DisposeAsync();
        _dir.Dispose();
    }
}

[CollectionDefinition("token registry")]
public class TokenRegistryCollection : ICollectionFixture<TokenRegistryFixture>;

[Collection("token registry")]
public class TokenAuthTests(TokenRegistryFixture f)
{
    private Reference Ref(string s) => Reference.Parse($"{f.Registry}/{s}");

    private RegistryClient Client(ICredentialProvider? creds = null, TimeProvider? clock = null) =>
        new(TestClients.Options(creds) with { PlainHttp = true, Clock = clock ?? TimeProvider.System });

    private int TokenRequestsSince(int before) => f.Tokens.Requests.Count - before;

    [Fact]
    public async Task Anonymous_pull_of_a_public_repository_gets_an_anonymous_token()
    {
        using var client = Client();
        int before = f.Tokens.Requests.Count;
        var img = await client.ResolveImageAsync(Ref("public/app:v1"));
        Assert.Equal(f.Image.ManifestDigest, img.ManifestDigest.ToString());
        var req = f.Tokens.Requests.Skip(before).First();
        Assert.Null(req.User);
        Assert.False(req.HadBasicAuth);
        Assert.Equal(TokenServer.Service, req.Service);
        Assert.Contains("repository:public/app:pull", req.Scopes);
    }

    [Fact]
    public async Task Anonymous_pull_of_a_private_repository_is_unauthorized_and_says_so()
    {
        using var client = Client();
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.ResolveImageAsync(Ref("private/app:v1")));
        Assert.Equal(RegistryErrorKind.Unauthorized, e.Kind);
        Assert.Contains("no credentials", e.Message);
        Assert.Contains("private/app", e.Message);
    }

    [Fact]
    public async Task Tokens_are_fetched_once_and_reused_for_the_same_scope()
    {
        using var client = Client(new StaticCredentials("alice", "wonderland"));
        using var rec = new MetricsRecorder(client);
        int before = f.Tokens.Requests.Count;
        var img = await client.ResolveImageAsync(Ref("private/app:v1"));
        await client.GetImageConfigAsync(img);
        var layer = f.Image.Layers[0];
        for (int i = 0; i < 5; i++)
        {
            byte[] buf = new byte[100];
            await client.ReadBlobRangeAsync(img.Repository, Digest.Parse(layer.Digest), i * 1000, buf);
            Assert.Equal(layer.Blob.AsSpan(i * 1000, 100).ToArray(), buf);
        }
        Assert.Equal(1, TokenRequestsSince(before));
        var req = f.Tokens.Requests.Last();
        Assert.Equal("alice", req.User);
        Assert.True(req.HadBasicAuth);
        Assert.Equal(1, rec.Sum("clip.registry.auth_round_trips", ("scheme", "bearer"), ("outcome", "ok")));
    }

    [Fact]
    public async Task An_expired_token_is_replaced()
    {
        var clock = new ManualClock();
        using var client = Client(new StaticCredentials("alice", "wonderland"), clock);
        int before = f.Tokens.Requests.Count;
        await client.GetManifestAsync(Ref("private/app:v1"));
        await client.GetManifestAsync(Ref("private/app:v1"));
        Assert.Equal(1, TokenRequestsSince(before));
        clock.Advance(f.Tokens.TokenLifetime - TimeSpan.FromSeconds(40));
        await client.GetManifestAsync(Ref("private/app:v1"));
        Assert.Equal(1, TokenRequestsSince(before));
        clock.Advance(TimeSpan.FromSeconds(20)); // inside the refresh margin before expiry
        await client.GetManifestAsync(Ref("private/app:v1"));
        Assert.Equal(2, TokenRequestsSince(before));
    }

    [Fact]
    public async Task Wrong_password_is_unauthorized_naming_the_user_never_the_password()
    {
        using var client = Client(new StaticCredentials("alice", "not-the-password"));
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.ResolveImageAsync(Ref("private/app:v1")));
        Assert.Equal(RegistryErrorKind.Unauthorized, e.Kind);
        Assert.Contains("alice", e.Message);
        Assert.Contains("rejected", e.Message);
        Assert.DoesNotContain("not-the-password", e.ToString());
    }

    [Fact]
    public async Task An_identity_token_from_docker_config_uses_the_refresh_token_grant()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.Combine("config.json"), $$"""{ "auths": { "{{f.Registry}}": { "identitytoken": "alice-identity-token" } } }""");
        using var client = Client(new DockerConfigCredentials(dir.Path));
        int before = f.Tokens.Requests.Count;
        var img = await client.ResolveImageAsync(Ref("private/app:v1"));
        Assert.Equal(f.Image.ManifestDigest, img.ManifestDigest.ToString());
        var req = f.Tokens.Requests.Skip(before).First();
        Assert.Equal("POST", req.Method);
        Assert.Equal("refresh_token", req.GrantType);
        Assert.Equal("alice", req.User);
    }

    [Fact]
    public async Task Push_upgrades_the_scope_and_a_reader_is_refused_after_one_reauthentication()
    {
        var repo = new RepositoryName(f.Registry, "private/pushed");
        using (var alice = Client(new StaticCredentials("alice", "wonderland")))
        {
            await alice.ResolveImageAsync(Ref("private/app:v1"));
            int before = f.Tokens.Requests.Count;
            var d = await alice.PushBlobAsync(repo, "hello"u8.ToArray(), "application/octet-stream");
            Assert.True(await alice.BlobExistsAsync(repo, d.ParsedDigest));
            Assert.Contains(f.Tokens.Requests.Skip(before), r => r.Scopes.Contains("repository:private/pushed:pull,push"));
        }
        using (var bob = Client(new StaticCredentials("bob", "builder")))
        {
            await bob.ResolveImageAsync(Ref("private/app:v1"));
            int before = f.Tokens.Requests.Count;
            var e = await Assert.ThrowsAsync<RegistryException>(() => bob.PushBlobAsync(repo, "bob was here"u8.ToArray(), "application/octet-stream"));
            Assert.Equal(RegistryErrorKind.Unauthorized, e.Kind);
            Assert.Contains("bob", e.Message);
            // One token for the push scope, one more after the registry's insufficient_scope challenge, then stop.
            Assert.Equal(2, TokenRequestsSince(before));
        }
    }

    [Fact]
    public async Task Logs_carry_stable_event_ids_and_never_a_secret()
    {
        var logs = new CapturingLoggerFactory();
        await using var proxy = new FaultProxy(f.Registry);
        int n = 0;
        proxy.Rule = r => r.Path.Contains("/blobs/") && Interlocked.Increment(ref n) == 1 ? Fault.Status(503) : null;
        using var client = new RegistryClient(TestClients.Options(new StaticCredentials("alice", "wonderland")) with { PlainHttp = true }, logs);
        var img = await client.ResolveImageAsync(Reference.Parse($"{proxy.Address}/private/app:v1"));
        await client.GetImageConfigAsync(img);
        using (var wrong = new RegistryClient(TestClients.Options(new StaticCredentials("alice", "bad-password-xyz")) with { PlainHttp = true }, logs))
            await Assert.ThrowsAsync<RegistryException>(() => wrong.ResolveImageAsync(Reference.Parse($"{proxy.Address}/private/app:v1")));

        var ids = logs.Events.Select(e => e.EventId).ToHashSet();
        Assert.Contains(1000, ids); // response
        Assert.Contains(1001, ids); // retry
        Assert.Contains(1010, ids); // token fetched
        Assert.Contains(1011, ids); // challenged
        Assert.Contains(1012, ids); // token refused
        Assert.All(logs.Events, e => Assert.InRange(e.EventId, 1000, 1099));
        string text = logs.AllText();
        Assert.DoesNotContain("wonderland", text);
        Assert.DoesNotContain("bad-password-xyz", text);
        Assert.DoesNotContain("eyJ", text);              // a JWT
        Assert.DoesNotContain("Bearer ey", text);
        Assert.DoesNotContain(Convert.ToBase64String("alice:wonderland"u8.ToArray()), text);
    }

    [Fact]
    public async Task A_403_triggers_one_fresh_token_then_is_denied_if_it_persists()
    {
        await using var proxy = new FaultProxy(f.Registry);
        int n = 0;
        proxy.Rule = r => r.Path.Contains("/manifests/") && Interlocked.Increment(ref n) == 2 ? Fault.Status(403) : null;
        using var client = new RegistryClient(TestClients.Options(new StaticCredentials("alice", "wonderland")) with { PlainHttp = true });
        var reference = Reference.Parse($"{proxy.Address}/private/app:v1");
        // Request 1: 401 challenge (anonymous first), request 2: 403 injected, then a fresh token and success.
        int before = f.Tokens.Requests.Count;
        var m = await client.GetManifestAsync(reference);
        Assert.Equal(f.Image.ManifestDigest, m.Digest.ToString());
        Assert.Equal(2, TokenRequestsSince(before));

        proxy.Rule = r => r.Path.Contains("/manifests/") ? Fault.Status(403) : null;
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(reference));
        Assert.Equal(RegistryErrorKind.Denied, e.Kind);
        Assert.Contains("denied", e.Message);
    }
}

/// <summary>The real registry with htpasswd basic auth.</summary>
public class BasicAuthTests : IAsyncLifetime
{
    private readonly TempDir _dir = new("clip-basic");
    private RegistryServer _server = null!;
    private OciLayoutBuilder.Image _image = null!;

    public async Task InitializeAsync()
    {
        _server = await RegistryServer.StartAsync(new RegistryServerOptions
        {
            HtpasswdUsers = new Dictionary<string, string> { ["carol"] = "s3cret-pw" },
        });
        var layout = new OciLayoutBuilder(_dir.Combine("layout"));
        _image = TestImages.Simple(layout, "img", 1, 10_000, seed: 9);
        await _server.PushOciLayoutAsync(layout.Directory, "img", "team/app", "v1");
    }

    [Fact]
    public async Task Basic_credentials_are_sent_after_the_challenge_and_then_preemptively()
    {
        await using var proxy = new FaultProxy(_server.Address);
        using var client = new RegistryClient(TestClients.Options(new StaticCredentials("carol", "s3cret-pw")) with { PlainHttp = true });
        var img = await client.ResolveImageAsync(Reference.Parse($"{proxy.Address}/team/app:v1"));
        Assert.Equal(_image.ManifestDigest, img.ManifestDigest.ToString());
        Assert.Equal(_image.Layers[0].Blob, await client.GetBlobBytesAsync(img.Repository, img.Layers[0]));
        var reqs = proxy.Requests.ToList();
        Assert.Null(reqs[0].Header("Authorization"));
        Assert.All(reqs.Skip(1), r => Assert.StartsWith("Basic ", r.Header("Authorization")));
    }

    [Fact]
    public async Task Missing_or_wrong_basic_credentials_are_unauthorized()
    {
        using (var anon = new RegistryClient(TestClients.Options() with { PlainHttp = true }))
        {
            var e = await Assert.ThrowsAsync<RegistryException>(() => anon.ResolveImageAsync(Reference.Parse($"{_server.Address}/team/app:v1")));
            Assert.Equal(RegistryErrorKind.Unauthorized, e.Kind);
            Assert.Contains("no credentials", e.Message);
        }
        using (var wrong = new RegistryClient(TestClients.Options(new StaticCredentials("carol", "nope")) with { PlainHttp = true }))
        {
            var e = await Assert.ThrowsAsync<RegistryException>(() => wrong.ResolveImageAsync(Reference.Parse($"{_server.Address}/team/app:v1")));
            Assert.Equal(RegistryErrorKind.Unauthorized, e.Kind);
            Assert.Contains("carol", e.Message);
            Assert.DoesNotContain("nope", e.Message);
        }
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _dir.Dispose();
    }
}
