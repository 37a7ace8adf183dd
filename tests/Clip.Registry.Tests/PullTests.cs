using Clip.Oci;
using Clip.Testing;

namespace Clip.Registry.Tests;

/// <summary>Pulling from the real docker-registry 2.8, with images pushed by skopeo as the ground truth.</summary>
[Collection("images")]
public class PullTests(ImagesFixture f)
{
    private Reference Ref(string repoAndTag) => Reference.Parse($"{f.Registry}/{repoAndTag}");

    [Fact]
    public async Task Resolves_an_oci_image_exactly_as_pushed()
    {
        using var client = TestClients.Create();
        var img = await client.ResolveImageAsync(Ref("test/oci:v1"));
        Assert.Equal(f.Oci.ManifestDigest, img.ManifestDigest.ToString());
        Assert.Equal(f.Oci.Manifest, img.ManifestBytes);
        Assert.Equal(MediaTypes.OciManifest, img.ManifestDescriptor.MediaType);
        Assert.Null(img.Index);
        Assert.False(img.IsDocker);
        Assert.Equal(f.Oci.ConfigDigest, img.Config.Digest);
        Assert.Equal(f.Oci.Layers.Select(l => l.Digest), img.Layers.Select(l => l.Digest));
        Assert.All(img.Layers, l => Assert.Equal(MediaTypes.OciLayerGzip, l.MediaType));
        Assert.Equal($"{f.Registry}/test/oci:v1@{f.Oci.ManifestDigest}", img.Reference.ToString());

        var config = await client.GetImageConfigAsync(img);
        Assert.Equal("amd64", config.Architecture);
        Assert.Equal(f.Oci.Layers.Select(l => l.DiffId), config.RootFs.DiffIds);
    }

    [Fact]
    public async Task Resolves_a_docker_schema2_image_converted_by_skopeo()
    {
        using var client = TestClients.Create();
        var img = await client.ResolveImageAsync(Ref("test/docker:v1"));
        Assert.Equal(MediaTypes.DockerManifest, img.ManifestDescriptor.MediaType);
        Assert.True(img.IsDocker);
        Assert.Equal(MediaTypes.DockerConfig, img.Config.MediaType);
        Assert.All(img.Layers, l => Assert.Equal(MediaTypes.DockerLayerGzip, l.MediaType));
        Assert.Equal(f.Oci.ConfigDigest, img.Config.Digest);
        Assert.Equal(f.Oci.Layers.Select(l => l.Digest), img.Layers.Select(l => l.Digest));
        string raw = await f.Server.InspectRawAsync("test/docker", "v1");
        Assert.Equal(raw.TrimEnd('\n'), System.Text.Encoding.UTF8.GetString(img.ManifestBytes).TrimEnd('\n'));

        // By digest, the same bytes come back and are verified against the digest.
        var byDigest = await client.GetManifestAsync(Ref("test/docker@" + img.ManifestDigest));
        Assert.Equal(img.ManifestBytes, byDigest.Bytes);
    }

    [Theory]
    [InlineData("test/multi:v1", "linux/amd64", MediaTypes.OciIndex)]
    [InlineData("test/multi:v1", "linux/arm64", MediaTypes.OciIndex)]
    [InlineData("test/multi:v1", "linux/arm64/v8", MediaTypes.OciIndex)]
    [InlineData("test/multi:v1", "linux/arm/v7", MediaTypes.OciIndex)]
    [InlineData("test/multi-docker:v1", "linux/amd64", MediaTypes.DockerManifestList)]
    [InlineData("test/multi-docker:v1", "linux/arm/v7", MediaTypes.DockerManifestList)]
    public async Task Selects_the_platform_from_an_index_or_manifest_list(string repo, string platform, string indexType)
    {
        using var client = TestClients.Create();
        var img = await client.ResolveImageAsync(Ref(repo), Platform.Parse(platform));
        Assert.NotNull(img.Index);
        Assert.Equal(indexType, img.Index!.MediaType);
        string key = platform == "linux/arm64" ? "linux/arm64/v8" : platform;
        var expected = f.Multi.ByPlatform[key];
        var config = await client.GetImageConfigAsync(img);
        Assert.Equal(key.Split('/')[1], config.Architecture);
        Assert.Equal(expected.Layers[0].Digest, img.Layers[0].Digest);
        Assert.Equal(key.Split('/')[1], img.Platform!.Architecture);
        if (indexType == MediaTypes.OciIndex)
        {
            Assert.Equal(f.Multi.Digest, img.Index.Digest);
            Assert.Equal(expected.ManifestDigest, img.ManifestDigest.ToString());
        }
        else
        {
            Assert.Equal(MediaTypes.DockerManifest, img.ManifestDescriptor.MediaType);
        }
    }

    [Fact]
    public async Task Default_platform_is_the_clients()
    {
        using var client = new RegistryClient(TestClients.Options() with { Platform = Platform.Parse("linux/arm/v7") });
        var img = await client.ResolveImageAsync(Ref("test/multi:v1"));
        Assert.Equal(f.Multi.ByPlatform["linux/arm/v7"].ManifestDigest, img.ManifestDigest.ToString());
        Assert.Equal("linux", PlatformMatcher.Host.Os);
    }

    [Fact]
    public async Task Missing_platform_is_not_found_and_lists_what_there_is()
    {
        using var client = TestClients.Create();
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.ResolveImageAsync(Ref("test/multi:v1"), Platform.Parse("linux/s390x")));
        Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
        Assert.Contains("linux/s390x", e.Message);
        Assert.Contains("linux/amd64", e.Message);
        Assert.Contains("linux/arm/v7", e.Message);
        Assert.Contains(f.Multi.Digest, e.Message);
    }

    [Fact]
    public async Task Missing_tag_repository_and_blob_are_not_found_with_context()
    {
        using var client = TestClients.Create();
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(Ref("test/oci:nope")));
        Assert.Equal(RegistryErrorKind.NotFound, e.Kind);
        Assert.Contains("MANIFEST_UNKNOWN", e.ErrorCodes);
        Assert.Contains(f.Registry, e.Message);
        Assert.Contains("test/oci", e.Message);
        Assert.Contains("manifest nope", e.Message);

        var e2 = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(Ref("no/such:v1")));
        Assert.Equal(RegistryErrorKind.NotFound, e2.Kind);

        var missing = Digest.Sha256("not there"u8);
        var e3 = await Assert.ThrowsAsync<RegistryException>(() => client.OpenBlobRangeAsync(new RepositoryName(f.Registry, "test/oci"), missing, 0, 10));
        Assert.Equal(RegistryErrorKind.NotFound, e3.Kind);
        Assert.Contains(missing.ToString(), e3.Message);
        Assert.Null(await client.GetBlobSizeAsync(new RepositoryName(f.Registry, "test/oci"), missing));
    }

    [Fact]
    public async Task Head_resolves_a_tag_to_its_digest_without_the_body()
    {
        using var client = TestClients.Create();
        var d = await client.HeadManifestAsync(Ref("test/oci:v1"));
        Assert.Equal(f.Oci.ManifestDigest, d!.Digest);
        Assert.Equal(f.Oci.Manifest.Length, d.Size);
        Assert.Null(await client.HeadManifestAsync(Ref("test/oci:absent")));
    }

    public static TheoryData<long, long> Ranges => new()
    {
        { 0, 1 }, { 0, 4096 }, { 1, 2 }, { 1000, 70_000 }, { 100_000, 250_000 }, { -1, 0 }, { -100, 0 }, { 0, 0 }, { -4096, -1 },
    };

    [Theory]
    [MemberData(nameof(Ranges))]
    public async Task Range_reads_return_exactly_the_requested_bytes(long start, long end)
    {
        var layer = f.Oci.Layers[0];
        long len = layer.Blob.Length;
        if (start < 0) start += len;
        if (end <= 0 && !(start == 0 && end == 0)) end += len;
        using var client = TestClients.Create();
        var repo = new RepositoryName(f.Registry, "test/oci");
        await using var s = await client.OpenBlobRangeAsync(repo, Digest.Parse(layer.Digest), start, end);
        var ms = new MemoryStream();
        await s.CopyToAsync(ms);
        Assert.Equal(layer.Blob.AsSpan((int)start, (int)(end - start)).ToArray(), ms.ToArray());
        Assert.Equal(end - start, s.Length);
    }

    [Fact]
    public async Task Range_into_a_buffer_and_ranges_beyond_the_end_are_bad_ranges()
    {
        var layer = f.Oci.Layers[1];
        long len = layer.Blob.Length;
        var repo = new RepositoryName(f.Registry, "test/oci");
        var digest = Digest.Parse(layer.Digest);
        using var client = TestClients.Create();

        byte[] buf = new byte[777];
        await client.ReadBlobRangeAsync(repo, digest, 12_345, buf);
        Assert.Equal(layer.Blob.AsSpan(12_345, 777).ToArray(), buf);

        var past = await Assert.ThrowsAsync<RegistryException>(() => client.OpenBlobRangeAsync(repo, digest, len + 5, len + 10));
        Assert.Equal(RegistryErrorKind.BadRange, past.Kind);
        Assert.Contains(layer.Digest, past.Message);

        var straddle = await Assert.ThrowsAsync<RegistryException>(async () =>
        {
            await using var s = await client.OpenBlobRangeAsync(repo, digest, len - 10, len + 10);
            await s.CopyToAsync(Stream.Null);
        });
        Assert.Equal(RegistryErrorKind.BadRange, straddle.Kind);
        Assert.Contains($"{len} bytes", straddle.Message);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.OpenBlobRangeAsync(repo, digest, 10, 5));
    }

    [Fact]
    public async Task Whole_blobs_stream_verified_with_or_without_a_known_size()
    {
        var layer = f.Oci.Layers[0];
        var repo = new RepositoryName(f.Registry, "test/oci");
        var digest = Digest.Parse(layer.Digest);
        using var client = TestClients.Create();
        foreach (long? size in new long?[] { layer.Blob.Length, null })
        {
            await using var s = await client.OpenBlobAsync(repo, digest, size);
            var ms = new MemoryStream();
            await s.CopyToAsync(ms);
            Assert.Equal(layer.Blob, ms.ToArray());
        }
        Assert.Equal(layer.Blob, await client.GetBlobBytesAsync(repo, digest, null));
        Assert.Equal(layer.Blob.Length, await client.GetBlobSizeAsync(repo, digest));

        // A descriptor whose size disagrees with the blob is refused, not trusted.
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.GetBlobBytesAsync(repo, digest, layer.Blob.Length + 1));
        Assert.Equal(RegistryErrorKind.DigestMismatch, e.Kind);
    }

    [Fact]
    public async Task Download_writes_the_file_only_after_verification()
    {
        var layer = f.Oci.Layers[1];
        using var dir = new TempDir();
        using var client = TestClients.Create();
        string path = dir.Combine("layer.tgz");
        long n = await client.DownloadBlobAsync(new RepositoryName(f.Registry, "test/oci"), Digest.Parse(layer.Digest), path, layer.Blob.Length);
        Assert.Equal(layer.Blob.Length, n);
        Assert.Equal(layer.Blob, File.ReadAllBytes(path));
        Assert.Equal(["layer.tgz"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Localhost_falls_back_to_plain_http_like_containerd_unless_told_not_to()
    {
        using (var client = TestClients.Create())
        {
            await client.PingAsync(f.Registry);
            Assert.True(client.Hosts.Resolve(f.Registry)[0].HttpFallback);
        }
        using (var strict = new RegistryClient(TestClients.Options() with { LocalhostHttpFallback = false }))
        {
            var e = await Assert.ThrowsAsync<RegistryException>(() => strict.PingAsync(f.Registry));
            Assert.Contains("TLS", e.Message);
        }
        using (var plain = new RegistryClient(TestClients.Options() with { PlainHttp = true }))
        {
            await plain.PingAsync(f.Registry);
        }
    }

    [Fact]
    public async Task Counters_have_bounded_labels()
    {
        using var client = TestClients.Create();
        using var rec = new MetricsRecorder(client);
        var layer = f.Oci.Layers[0];
        var repo = new RepositoryName(f.Registry, "test/oci");
        await client.ResolveImageAsync(Ref("test/oci:v1"));
        byte[] buf = new byte[1000];
        await client.ReadBlobRangeAsync(repo, Digest.Parse(layer.Digest), 500, buf);
        await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(Ref("test/oci:nope")));

        Assert.True(rec.Sum("clip.registry.requests", ("kind", "manifest"), ("status_class", "2xx")) >= 1);
        Assert.True(rec.Sum("clip.registry.requests", ("kind", "manifest"), ("status_class", "4xx")) >= 1);
        Assert.Equal(1, rec.Sum("clip.registry.requests", ("kind", "blob_range"), ("status_class", "2xx")));
        Assert.Equal(1, rec.Sum("clip.registry.range_requests", ("outcome", "partial")));
        Assert.Equal(1000, rec.Sum("clip.registry.bytes_received", ("kind", "blob_range")));
        var allowed = new HashSet<string> { "kind", "status_class", "outcome", "reason", "scheme" };
        lock (rec.Measurements)
        {
            foreach (var m in rec.Measurements)
            foreach (var (k, v) in m.Tags)
            {
                Assert.Contains(k, allowed);
                Assert.DoesNotContain("sha256", v);
                Assert.DoesNotContain("/", v);
                Assert.DoesNotContain("127.0.0.1", v);
            }
        }
    }
}
