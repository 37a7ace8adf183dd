using System.Diagnostics;
using Clip.Oci;
using Clip.Registry.Auth;
using Clip.Testing;

namespace Clip.Registry.Tests;

/// <summary>
/// The client against a fault-injecting proxy in front of the real registry. What must hold: the right bytes after
/// retries, or a clear error; never wrong bytes from a whole-blob fetch; never a hang past the deadline.
/// </summary>
[Collection("images")]
public class FaultTests(ImagesFixture f)
{
    private OciLayoutBuilder.Layer Layer => f.Oci.Layers[0];
    private Digest LayerDigest => Digest.Parse(Layer.Digest);

    private static RegistryClient Client(RegistryClientOptions? o = null) =>
        new(o ?? TestClients.Options() with { PlainHttp = true });

    private static bool IsBlob(HttpRequestData r) => r.Method == "GET" && r.Path.Contains("/blobs/");

    private static async Task<byte[]> ReadAll(Stream s)
    {
        var ms = new MemoryStream();
        await s.CopyToAsync(ms);
        return ms.ToArray();
    }

    [Fact]
    public async Task A_burst_of_5xx_is_retried_and_counted()
    {
        await using var proxy = new FaultProxy(f.Registry);
        int failures = 0;
        proxy.Rule = r => IsBlob(r) && Interlocked.Increment(ref failures) <= 3 ? Fault.Status(failures == 2 ? 502 : 503) : null;
        using var client = Client();
        using var rec = new MetricsRecorder(client);
        var repo = new RepositoryName(proxy.Address, "test/oci");
        await using var s = await client.OpenBlobRangeAsync(repo, LayerDigest, 10, 20_010);
        Assert.Equal(Layer.Blob.AsSpan(10, 20_000).ToArray(), await ReadAll(s));
        Assert.Equal(3, rec.Sum("clip.registry.retries", ("kind", "blob_range"), ("reason", "server_error")));
        Assert.Equal(3, rec.Sum("clip.registry.requests", ("kind", "blob_range"), ("status_class", "5xx")));
    }

    [Fact]
    public async Task Retry_after_on_429_is_honoured()
    {
        await using var proxy = new FaultProxy(f.Registry);
        int n = 0;
        proxy.Rule = r => r.Path.Contains("/manifests/") && Interlocked.Increment(ref n) == 1 ? Fault.Status(429, ("Retry-After", "1")) : null;
        using var client = Client(TestClients.Options() with { PlainHttp = true, MaxRetryDelay = TimeSpan.FromSeconds(5) });
        using var rec = new MetricsRecorder(client);
        var sw = Stopwatch.StartNew();
        var m = await client.GetManifestAsync(Reference.Parse($"{proxy.Address}/test/oci:v1"));
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(950), $"waited only {sw.Elapsed}");
        Assert.Equal(f.Oci.ManifestDigest, m.Digest.ToString());
        Assert.Equal(1, rec.Sum("clip.registry.retries", ("reason", "throttled")));
    }

    [Fact]
    public async Task Persistent_5xx_gives_up_with_too_many_retries()
    {
        await using var proxy = new FaultProxy(f.Registry);
        proxy.Rule = r => IsBlob(r) ? Fault.Status(503) : null;
        using var client = Client();
        var e = await Assert.ThrowsAsync<RegistryException>(() =>
            client.OpenBlobRangeAsync(new RepositoryName(proxy.Address, "test/oci"), LayerDigest, 0, 100));
        Assert.Equal(RegistryErrorKind.TooManyRetries, e.Kind);
        Assert.Contains("4 attempts", e.Message);
        Assert.Contains("503", e.Message);
        Assert.Contains(Layer.Digest, e.Message);
        Assert.Equal(4, proxy.RequestsTo("/blobs/").Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_body_reset_midway_is_resumed_from_where_it_broke(bool whole)
    {
        await using var proxy = new FaultProxy(f.Registry);
        int n = 0;
        // The first two blob bodies break after 50 000 and 20 000 bytes.
        proxy.Rule = r => IsBlob(r) ? Interlocked.Increment(ref n) switch { 1 => Fault.ResetAfter(50_000), 2 => Fault.ResetAfter(20_000), _ => null } : null;
        using var client = Client();
        using var rec = new MetricsRecorder(client);
        var repo = new RepositoryName(proxy.Address, "test/oci");
        byte[] got, want;
        if (whole)
        {
            await using var s = await client.OpenBlobAsync(repo, LayerDigest, Layer.Blob.Length);
            got = await ReadAll(s);
            want = Layer.Blob;
        }
        else
        {
            await using var s = await client.OpenBlobRangeAsync(repo, LayerDigest, 1000, 200_000);
            got = await ReadAll(s);
            want = Layer.Blob.AsSpan(1000, 199_000).ToArray();
        }
        Assert.Equal(want, got);
        Assert.Equal(2, rec.Sum("clip.registry.retries", ("reason", "resume")));
        var ranges = proxy.RequestsTo("/blobs/").Select(r => r.Header("Range")).ToList();
        long start = whole ? 0 : 1000;
        Assert.Equal(3, ranges.Count);
        Assert.Equal($"bytes={start + 50_000}-", ranges[1]![..$"bytes={start + 50_000}-".Length]);
        Assert.Equal($"bytes={start + 70_000}-", ranges[2]![..$"bytes={start + 70_000}-".Length]);
    }

    [Fact]
    public async Task A_reset_before_any_response_is_retried()
    {
        await using var proxy = new FaultProxy(f.Registry);
        int n = 0;
        proxy.Rule = r => r.Path.Contains("/manifests/") && Interlocked.Increment(ref n) <= 2 ? Fault.ResetNow() : null;
        using var client = Client();
        var img = await client.ResolveImageAsync(Reference.Parse($"{proxy.Address}/test/oci:v1"));
        Assert.Equal(f.Oci.ManifestDigest, img.ManifestDigest.ToString());
    }

    [Fact]
    public async Task A_registry_that_ignores_range_still_yields_exactly_the_range()
    {
        await using var proxy = new FaultProxy(f.Registry);
        proxy.Rule = r => IsBlob(r) ? Fault.IgnoreRange() : null;
        using var client = Client();
        using var rec = new MetricsRecorder(client);
        var repo = new RepositoryName(proxy.Address, "test/oci");
        foreach (var (start, end) in new[] { (0L, 10L), (123_456L, 123_999L), (Layer.Blob.Length - 7L, (long)Layer.Blob.Length) })
        {
            await using var s = await client.OpenBlobRangeAsync(repo, LayerDigest, start, end);
            Assert.Equal(Layer.Blob.AsSpan((int)start, (int)(end - start)).ToArray(), await ReadAll(s));
        }
        Assert.Equal(3, rec.Sum("clip.registry.range_requests", ("outcome", "full_body")));
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.OpenBlobRangeAsync(repo, LayerDigest, Layer.Blob.Length - 1, Layer.Blob.Length + 1));
        Assert.Equal(RegistryErrorKind.BadRange, e.Kind);
    }

    [Fact]
    public async Task A_short_partial_answer_is_continued()
    {
        await using var proxy = new FaultProxy(f.Registry);
        proxy.Rule = r => IsBlob(r) ? Fault.ShortRange(10_000) : null;
        using var client = Client();
        await using var s = await client.OpenBlobRangeAsync(new RepositoryName(proxy.Address, "test/oci"), LayerDigest, 5, 35_005);
        Assert.Equal(Layer.Blob.AsSpan(5, 35_000).ToArray(), await ReadAll(s));
        Assert.Equal(4, proxy.RequestsTo("/blobs/").Count);
    }

    [Theory]
    [InlineData("bytes 0-99/300000")]     // not where we asked
    [InlineData("bytes 100-99999/300000")] // beyond what we asked
    [InlineData("items 100-199/300000")]
    public async Task A_lying_content_range_is_a_clear_error_not_wrong_bytes(string contentRange)
    {
        await using var proxy = new FaultProxy(f.Registry);
        proxy.Rule = r => IsBlob(r) ? Fault.WrongContentRange(contentRange) : null;
        using var client = Client();
        var e = await Assert.ThrowsAsync<RegistryException>(() =>
            client.OpenBlobRangeAsync(new RepositoryName(proxy.Address, "test/oci"), LayerDigest, 100, 200));
        Assert.True(e.Kind is RegistryErrorKind.BadRange or RegistryErrorKind.InvalidResponse, e.Kind.ToString());
        Assert.Contains(Layer.Digest, e.Message);
    }

    [Fact]
    public async Task Slow_headers_end_at_the_deadline_not_later()
    {
        await using var proxy = new FaultProxy(f.Registry);
        proxy.Rule = r => IsBlob(r) ? Fault.Delay(TimeSpan.FromSeconds(20)) : null;
        using var client = Client(TestClients.Options() with
        {
            PlainHttp = true, RequestTimeout = TimeSpan.FromMilliseconds(700), Deadline = TimeSpan.FromSeconds(2), MaxAttempts = 100,
        });
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<RegistryException>(() =>
            client.OpenBlobRangeAsync(new RepositoryName(proxy.Address, "test/oci"), LayerDigest, 0, 100));
        Assert.Equal(RegistryErrorKind.DeadlineExceeded, e.Kind);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4), $"took {sw.Elapsed}");
        Assert.Contains("deadline", e.Message);
        Assert.True(proxy.RequestsTo("/blobs/").Count >= 2, "timed-out attempts are retried");
    }

    [Fact]
    public async Task A_stalled_body_times_out_and_resumes()
    {
        await using var proxy = new FaultProxy(f.Registry);
        int n = 0;
        proxy.Rule = r => IsBlob(r) && Interlocked.Increment(ref n) == 1 ? Fault.StallAfter(30_000, TimeSpan.FromSeconds(10)) : null;
        using var client = Client(TestClients.Options() with { PlainHttp = true, RequestTimeout = TimeSpan.FromMilliseconds(800) });
        var sw = Stopwatch.StartNew();
        await using var s = await client.OpenBlobRangeAsync(new RepositoryName(proxy.Address, "test/oci"), LayerDigest, 0, 100_000);
        Assert.Equal(Layer.Blob.AsSpan(0, 100_000).ToArray(), await ReadAll(s));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(6), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task A_stalled_range_read_ends_at_the_deadline()
    {
        await using var proxy = new FaultProxy(f.Registry);
        proxy.Rule = r => IsBlob(r) ? Fault.StallAfter(1_000, TimeSpan.FromSeconds(30)) : null;
        using var client = Client(TestClients.Options() with
        {
            PlainHttp = true, RequestTimeout = TimeSpan.FromMilliseconds(500), Deadline = TimeSpan.FromSeconds(2), MaxAttempts = 100,
        });
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<RegistryException>(async () =>
        {
            await using var s = await client.OpenBlobRangeAsync(new RepositoryName(proxy.Address, "test/oci"), LayerDigest, 0, 100_000);
            await ReadAll(s);
        });
        Assert.Equal(RegistryErrorKind.DeadlineExceeded, e.Kind);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task Cancellation_is_prompt_and_is_not_an_error()
    {
        await using var proxy = new FaultProxy(f.Registry);
        proxy.Rule = r => IsBlob(r) ? Fault.Delay(TimeSpan.FromSeconds(20)) : null;
        using var client = Client();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var sw = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            client.OpenBlobRangeAsync(new RepositoryName(proxy.Address, "test/oci"), LayerDigest, 0, 100, cts.Token));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task Corrupted_whole_blobs_never_reach_the_caller_as_good_bytes()
    {
        await using var proxy = new FaultProxy(f.Registry);
        proxy.Rule = r => IsBlob(r) ? Fault.Corrupt(123_456) : null;
        using var client = Client();
        var repo = new RepositoryName(proxy.Address, "test/oci");

        var e = await Assert.ThrowsAsync<RegistryException>(() => client.GetBlobBytesAsync(repo, LayerDigest, Layer.Blob.Length));
        Assert.Equal(RegistryErrorKind.DigestMismatch, e.Kind);
        Assert.IsType<DigestMismatchException>(e.InnerException);
        Assert.Contains(Layer.Digest, e.Message);

        using var dir = new TempDir();
        await Assert.ThrowsAsync<RegistryException>(() => client.DownloadBlobAsync(repo, LayerDigest, dir.Combine("x"), Layer.Blob.Length));
        Assert.Empty(Directory.GetFiles(dir.Path));

        // Streaming: the final read throws instead of reporting a clean end.
        await using var s = await client.OpenBlobAsync(repo, LayerDigest);
        var streamed = await Assert.ThrowsAsync<RegistryException>(() => ReadAll(s));
        Assert.Equal(RegistryErrorKind.DigestMismatch, streamed.Kind);

        // The config, fetched whole, is verified too.
        proxy.Rule = r => r.Path.EndsWith(f.Oci.ConfigDigest) ? Fault.Corrupt(5) : null;
        var img = await client.ResolveImageAsync(Reference.Parse($"{proxy.Address}/test/oci:v1"));
        var ce = await Assert.ThrowsAsync<RegistryException>(() => client.GetImageConfigAsync(img));
        Assert.Equal(RegistryErrorKind.DigestMismatch, ce.Kind);
    }

    [Fact]
    public async Task Corrupted_manifests_are_refused()
    {
        await using var proxy = new FaultProxy(f.Registry);
        proxy.Rule = r => r.Path.Contains("/manifests/") ? Fault.Corrupt(20) : null;
        using var client = Client();
        // By tag the registry's Docker-Content-Digest is the reference; by digest the digest itself.
        var e1 = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(Reference.Parse($"{proxy.Address}/test/oci:v1")));
        Assert.Equal(RegistryErrorKind.DigestMismatch, e1.Kind);
        var e2 = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(Reference.Parse($"{proxy.Address}/test/oci@{f.Oci.ManifestDigest}")));
        Assert.Equal(RegistryErrorKind.DigestMismatch, e2.Kind);
        Assert.Contains(f.Oci.ManifestDigest, e2.Message);
    }

    [Fact]
    public async Task Connections_are_kept_alive_and_bounded_per_server()
    {
        await using var proxy = new FaultProxy(f.Registry);
        var repo = new RepositoryName(proxy.Address, "test/oci");
        using (var client = Client())
        {
            byte[] buf = new byte[100];
            for (int i = 0; i < 20; i++) await client.ReadBlobRangeAsync(repo, LayerDigest, i * 100, buf);
            Assert.Equal(1, proxy.ConnectionsAccepted);
        }

        await using var slow = new FaultProxy(f.Registry) { Rule = r => IsBlob(r) ? Fault.Delay(TimeSpan.FromMilliseconds(150)) : null };
        using var bounded = new RegistryClient(TestClients.Options() with { PlainHttp = true, MaxConnectionsPerServer = 2 });
        var slowRepo = new RepositoryName(slow.Address, "test/oci");
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            byte[] b = new byte[1000];
            await bounded.ReadBlobRangeAsync(slowRepo, LayerDigest, i * 1000, b);
            Assert.Equal(Layer.Blob.AsSpan(i * 1000, 1000).ToArray(), b);
        }));
        Assert.InRange(slow.ConnectionsAccepted, 1, 2);
    }

    [Fact]
    public async Task Too_many_redirects_is_an_error()
    {
        await using var proxy = new FaultProxy(f.Registry);
        proxy.Rule = r => IsBlob(r) ? Fault.Redirect(proxy.BaseUri) : null;
        using var client = Client();
        var e = await Assert.ThrowsAsync<RegistryException>(() =>
            client.OpenBlobRangeAsync(new RepositoryName(proxy.Address, "test/oci"), LayerDigest, 0, 10));
        Assert.Contains("redirects", e.Message);
    }
}

/// <summary>Redirects to blob storage on another host: followed by hand, credentials never sent there.</summary>
public class RedirectTests : IAsyncLifetime
{
    private readonly TempDir _dir = new("clip-redirect");
    private RegistryServer _server = null!;
    private OciLayoutBuilder.Image _image = null!;

    public async Task InitializeAsync()
    {
        _server = await RegistryServer.StartAsync(new RegistryServerOptions
        {
            HtpasswdUsers = new Dictionary<string, string> { ["alice"] = "wonderland" },
        });
        var layout = new OciLayoutBuilder(_dir.Combine("layout"));
        _image = TestImages.Simple(layout, "img", 1, 200_000, seed: 42);
        await _server.PushOciLayoutAsync(layout.Directory, "img", "private/app", "v1");
    }

    [Fact]
    public async Task Range_and_whole_reads_follow_a_redirect_to_another_host_without_credentials()
    {
        // "storage" stands for S3: it authorises by URL (here: it adds the credentials itself) and must never see ours.
        await using var storage = new FaultProxy(_server.Address)
        {
            UpstreamAuthorization = "Basic " + Convert.ToBase64String("alice:wonderland"u8.ToArray()),
        };
        await using var front = new FaultProxy(_server.Address);
        front.Rule = r => r.Method == "GET" && r.Path.Contains("/blobs/") ? Fault.Redirect(storage.BaseUri) : null;

        using var client = new RegistryClient(TestClients.Options(new StaticCredentials("alice", "wonderland")) with { PlainHttp = true });
        var img = await client.ResolveImageAsync(Reference.Parse($"{front.Address}/private/app:v1"));
        var layer = _image.Layers[0];
        var repo = img.Repository;
        await using (var s = await client.OpenBlobRangeAsync(repo, Digest.Parse(layer.Digest), 1_000, 150_000))
        {
            var ms = new MemoryStream();
            await s.CopyToAsync(ms);
            Assert.Equal(layer.Blob.AsSpan(1_000, 149_000).ToArray(), ms.ToArray());
        }
        Assert.Equal(layer.Blob, await client.GetBlobBytesAsync(repo, Digest.Parse(layer.Digest), layer.Blob.Length));
        var config = await client.GetImageConfigAsync(img);
        Assert.Equal("amd64", config.Architecture);

        Assert.NotEmpty(storage.Requests);
        Assert.All(storage.Requests, r => Assert.Null(r.Header("Authorization")));
        Assert.Contains(front.RequestsTo("/blobs/"), r => r.Header("Authorization")?.StartsWith("Basic ") == true);
        Assert.Contains(storage.Requests, r => r.Header("Range") == "bytes=1000-149999");
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _dir.Dispose();
    }
}
