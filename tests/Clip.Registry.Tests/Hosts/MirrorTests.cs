using Clip.Oci;
using Clip.Testing;

namespace Clip.Registry.Tests.Hosts;

/// <summary>hosts.toml in action: mirrors, fallback to the server, headers, TLS with a private CA.</summary>
[Collection("images")]
public class MirrorTests(ImagesFixture f)
{
    private static void WriteHosts(TempDir dir, string ns, string toml)
    {
        Directory.CreateDirectory(dir.Combine(ns));
        File.WriteAllText(dir.Combine(ns, "hosts.toml"), toml);
    }

    [Fact]
    public async Task A_mirror_serves_a_registry_that_does_not_exist_with_ns_and_configured_headers()
    {
        using var dir = new TempDir();
        await using var mirror = new FaultProxy(f.Registry);
        WriteHosts(dir, "registry.invalid", $$"""
            server = "http://127.0.0.1:9"
            [host."http://{{mirror.Address}}"]
              capabilities = ["pull", "resolve"]
              [host."http://{{mirror.Address}}".header]
                x-clip-test = "mirror-header"
            """);
        using var client = new RegistryClient(TestClients.Options() with { HostsDirectory = dir.Path });
        var img = await client.ResolveImageAsync(Reference.Parse("registry.invalid/test/oci:v1"));
        Assert.Equal(f.Oci.ManifestDigest, img.ManifestDigest.ToString());
        byte[] buf = new byte[500];
        await client.ReadBlobRangeAsync(img.Repository, img.Layers[0].ParsedDigest, 100, buf);
        Assert.Equal(f.Oci.Layers[0].Blob.AsSpan(100, 500).ToArray(), buf);
        Assert.All(mirror.Requests, r =>
        {
            Assert.Equal(["registry.invalid"], r.QueryValues("ns"));
            Assert.Equal("mirror-header", r.Header("x-clip-test"));
        });
    }

    [Fact]
    public async Task A_failing_mirror_falls_through_to_the_server()
    {
        using var dir = new TempDir();
        await using var broken = new FaultProxy(f.Registry) { Rule = _ => Fault.Status(503) };
        WriteHosts(dir, "registry.invalid", $$"""
            server = "http://{{f.Registry}}"
            [host."http://{{broken.Address}}"]
              capabilities = ["pull", "resolve"]
            """);
        using var client = new RegistryClient(TestClients.Options() with { HostsDirectory = dir.Path, MaxAttempts = 2 });
        var img = await client.ResolveImageAsync(Reference.Parse("registry.invalid/test/oci:v1"));
        Assert.Equal(f.Oci.ManifestDigest, img.ManifestDigest.ToString());
        await using var s = await client.OpenBlobRangeAsync(img.Repository, img.Layers[0].ParsedDigest, 0, 64);
        var ms = new MemoryStream();
        await s.CopyToAsync(ms);
        Assert.Equal(f.Oci.Layers[0].Blob.AsSpan(0, 64).ToArray(), ms.ToArray());
        Assert.NotEmpty(broken.Requests);
    }

    [Fact]
    public async Task A_pull_only_mirror_is_never_asked_to_resolve_a_tag()
    {
        using var dir = new TempDir();
        await using var mirror = new FaultProxy(f.Registry);
        await using var upstream = new FaultProxy(f.Registry);
        WriteHosts(dir, "registry.invalid", $$"""
            server = "http://{{upstream.Address}}"
            [host."http://{{mirror.Address}}"]
              capabilities = ["pull"]
            """);
        using var client = new RegistryClient(TestClients.Options() with { HostsDirectory = dir.Path });
        var img = await client.ResolveImageAsync(Reference.Parse("registry.invalid/test/oci:v1"));
        await client.GetImageConfigAsync(img);
        Assert.DoesNotContain(mirror.Requests, r => r.Path.EndsWith("/manifests/v1"));
        Assert.Contains(upstream.Requests, r => r.Path.EndsWith("/manifests/v1"));
        Assert.Contains(mirror.Requests, r => r.Path.Contains("/blobs/"));
    }

    [Fact]
    public async Task Override_path_reaches_a_registry_under_a_prefix()
    {
        using var dir = new TempDir();
        await using var prefixed = new PrefixProxy(f.Registry, "/mirror/docker");
        WriteHosts(dir, "registry.invalid", $$"""
            server = "http://127.0.0.1:9"
            [host."http://{{prefixed.Address}}/mirror/docker"]
              capabilities = ["pull", "resolve"]
              override_path = true
            """);
        using var client = new RegistryClient(TestClients.Options() with { HostsDirectory = dir.Path });
        var img = await client.ResolveImageAsync(Reference.Parse("registry.invalid/test/oci:v1"));
        Assert.Equal(f.Oci.ManifestDigest, img.ManifestDigest.ToString());
    }

    /// <summary>A non-compliant mirror that serves the API under a path prefix instead of /v2.</summary>
    private sealed class PrefixProxy(string upstream, string prefix) : LoopbackHttpServer
    {
        private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false });

        protected override async Task<bool> HandleAsync(HttpRequestData req, Stream conn, CancellationToken ct)
        {
            if (!req.Target.StartsWith(prefix + "/"))
            {
                await WriteResponseAsync(conn, 404, null, null, ct);
                return true;
            }
            var up = new HttpRequestMessage(new HttpMethod(req.Method), $"http://{upstream}/v2{req.Target[prefix.Length..]}");
            foreach (var (k, v) in req.Headers)
                if (k is "Accept" or "Range") up.Headers.TryAddWithoutValidation(k, v);
            using var resp = await _http.SendAsync(up, ct);
            byte[] body = await resp.Content.ReadAsByteArrayAsync(ct);
            var headers = resp.Headers.Concat(resp.Content.Headers)
                .Where(h => h.Key is not "Content-Length" and not "Transfer-Encoding")
                .SelectMany(h => h.Value.Select(v => KeyValuePair.Create(h.Key, v))).ToList();
            await WriteResponseAsync(conn, (int)resp.StatusCode, headers, body, ct, headOnly: req.Method == "HEAD");
            return true;
        }

        public override async ValueTask DisposeAsync()
        {
            await base.DisposeAsync();
            _http.Dispose();
        }
    }
}

/// <summary>A registry that speaks HTTPS with a certificate from a private CA.</summary>
public class TlsTests : IAsyncLifetime
{
    private readonly TempDir _dir = new("clip-tls");
    private TestCertificates _certs = null!;
    private RegistryServer _server = null!;
    private OciLayoutBuilder.Image _image = null!;

    public async Task InitializeAsync()
    {
        _certs = TestCertificates.Create(_dir.Combine("certs"));
        _server = await RegistryServer.StartAsync(new RegistryServerOptions
        {
            TlsCertificatePath = _certs.ServerCertificatePath,
            TlsKeyPath = _certs.ServerKeyPath,
        });
        var layout = new OciLayoutBuilder(_dir.Combine("layout"));
        _image = TestImages.Simple(layout, "img", 1, 5_000, seed: 77);
        await _server.PushOciLayoutAsync(layout.Directory, "img", "tls/app", "v1");
    }

    private RegistryClient Client(string? hostsToml)
    {
        string hosts = _dir.Combine("hosts-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(hosts);
        if (hostsToml is not null)
        {
            string ns = Path.Combine(hosts, _server.Address);
            Directory.CreateDirectory(ns);
            File.WriteAllText(Path.Combine(ns, "hosts.toml"), hostsToml);
        }
        return new RegistryClient(TestClients.Options() with { HostsDirectory = hosts, LocalhostHttpFallback = false });
    }

    [Fact]
    public async Task The_configured_ca_is_trusted()
    {
        // ca given relative to the hosts.toml directory would also do; here an absolute path.
        using var client = Client($"server = \"https://{_server.Address}\"\nca = \"{_certs.CaPath}\"\n");
        var img = await client.ResolveImageAsync(Reference.Parse($"{_server.Address}/tls/app:v1"));
        Assert.Equal(_image.ManifestDigest, img.ManifestDigest.ToString());
        Assert.Equal(_image.Layers[0].Blob, await client.GetBlobBytesAsync(img.Repository, img.Layers[0]));
    }

    [Fact]
    public async Task Without_the_ca_the_handshake_fails_clearly_and_skip_verify_overrides()
    {
        using (var untrusted = Client(null))
        {
            var e = await Assert.ThrowsAsync<RegistryException>(() => untrusted.ResolveImageAsync(Reference.Parse($"{_server.Address}/tls/app:v1")));
            Assert.Contains("TLS", e.Message);
            Assert.Contains(_server.Address, e.Message);
        }
        using (var skip = Client($"server = \"https://{_server.Address}\"\nskip_verify = true\n"))
        {
            var img = await skip.ResolveImageAsync(Reference.Parse($"{_server.Address}/tls/app:v1"));
            Assert.Equal(_image.ManifestDigest, img.ManifestDigest.ToString());
        }
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _dir.Dispose();
    }
}
