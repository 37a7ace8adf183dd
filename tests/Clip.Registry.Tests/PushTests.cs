using System.Text;
using System.Text.Json.Nodes;
using Clip.Oci;
using Clip.Testing;

namespace Clip.Registry.Tests;

/// <summary>Blob upload, manifest push and referrers against the real registry (2.8: no referrers API).</summary>
[Collection("images")]
public class PushTests(ImagesFixture f)
{
    private static RegistryClient Client() => new(TestClients.Options() with { PlainHttp = true });

    [Fact]
    public async Task Blob_upload_is_post_then_put_and_skipped_when_present()
    {
        await using var proxy = new FaultProxy(f.Registry);
        using var client = Client();
        var repo = new RepositoryName(proxy.Address, "push/blobs");
        byte[] data = TestImages.RandomBytes(70_000, 99);
        var d = await client.PushBlobAsync(repo, data, "application/octet-stream");
        Assert.Equal(TestImages.Sha256(data), d.Digest);
        Assert.Equal(["HEAD", "POST", "PUT"], proxy.Requests.Select(r => r.Method).ToArray());
        Assert.Contains("digest=", proxy.Requests.Last().Query);

        proxy.Requests.Clear();
        await client.PushBlobAsync(repo, data, "application/octet-stream");
        Assert.Equal(["HEAD"], proxy.Requests.Select(r => r.Method).ToArray());
        Assert.Equal(data, await client.GetBlobBytesAsync(repo, d));
    }

    [Fact]
    public async Task Cross_repository_mount_avoids_the_upload()
    {
        await using var proxy = new FaultProxy(f.Registry);
        using var client = Client();
        byte[] data = TestImages.RandomBytes(10_000, 3);
        var from = new RepositoryName(proxy.Address, "push/mount-src");
        var to = new RepositoryName(proxy.Address, "push/mount-dst");
        var d = await client.PushBlobAsync(from, data, "application/octet-stream");
        proxy.Requests.Clear();
        await client.PushBlobAsync(to, data, "application/octet-stream", mountFrom: from);
        var post = Assert.Single(proxy.Requests, r => r.Method == "POST");
        Assert.Equal([d.Digest], post.QueryValues("mount"));
        Assert.Equal(["push/mount-src"], post.QueryValues("from"));
        Assert.DoesNotContain(proxy.Requests, r => r.Method == "PUT");
        Assert.True(await client.BlobExistsAsync(to, d.ParsedDigest));
    }

    [Fact]
    public async Task A_pushed_image_is_what_skopeo_reads_back()
    {
        using var client = Client();
        var repo = new RepositoryName(f.Registry, "push/image");
        byte[] layerTar = new LayerBuilder().File("hello.txt", "pushed by clip\n").BuildTar();
        byte[] layer = LayerBuilder.Gzip(layerTar);
        var layerDesc = await client.PushBlobAsync(repo, layer, MediaTypes.OciLayerGzip);
        byte[] config = Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["{{{TestImages.Sha256(layerTar)}}}"]}}""");
        var configDesc = await client.PushBlobAsync(repo, config, MediaTypes.OciConfig);
        byte[] manifest = OciJson.Serialize(new Manifest { MediaType = MediaTypes.OciManifest, Config = configDesc, Layers = [layerDesc] });
        var pushed = await client.PushManifestAsync(repo, manifest, MediaTypes.OciManifest, "v1");
        Assert.Equal(TestImages.Sha256(manifest), pushed.Descriptor.Digest);
        Assert.False(pushed.SubjectProcessed);

        string raw = await f.Server.InspectRawAsync("push/image", "v1");
        Assert.Equal(Encoding.UTF8.GetString(manifest), raw.TrimEnd('\n'));
        var img = await client.ResolveImageAsync(Reference.Parse($"{f.Registry}/push/image:v1"));
        Assert.Equal(pushed.Descriptor.Digest, img.ManifestDigest.ToString());
        Assert.Equal(layer, await client.GetBlobBytesAsync(repo, img.Layers[0]));

        // A manifest naming a blob the registry lacks is refused with the registry's reason.
        byte[] bad = OciJson.Serialize(new Manifest
        {
            MediaType = MediaTypes.OciManifest, Config = configDesc,
            Layers = [new Descriptor { MediaType = MediaTypes.OciLayerGzip, Digest = Digest.Sha256("absent"u8).ToString(), Size = 6 }],
        });
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.PushManifestAsync(repo, bad, MediaTypes.OciManifest, "bad"));
        Assert.Equal(RegistryErrorKind.BadRequest, e.Kind);
        Assert.Contains("MANIFEST_BLOB_UNKNOWN", e.ErrorCodes);
    }

    [Fact]
    public async Task Referrers_fall_back_to_the_tag_schema_on_a_registry_without_the_api()
    {
        using var client = Client();
        var img = await client.ResolveImageAsync(Reference.Parse($"{f.Registry}/test/oci:v1"));
        var repo = img.Repository;
        var subject = img.ManifestDescriptor;
        Assert.Empty(await client.ListReferrersAsync(repo, img.ManifestDigest));

        byte[] clipIndex = TestImages.RandomBytes(5_000, 11);
        var a = await client.PushArtifactAsync(repo, subject, MediaTypes.ClipIndexArtifact,
            [(clipIndex, MediaTypes.ClipIndexBlob, null)], new Dictionary<string, string> { ["org.example.note"] = "index" });
        var b = await client.PushArtifactAsync(repo, subject, "application/vnd.example.sbom", [("{}"u8.ToArray(), "application/json", null)]);
        // Pushing the same artifact again does not duplicate it.
        var a2 = await client.PushArtifactAsync(repo, subject, MediaTypes.ClipIndexArtifact,
            [(clipIndex, MediaTypes.ClipIndexBlob, null)], new Dictionary<string, string> { ["org.example.note"] = "index" });
        Assert.Equal(a.Digest, a2.Digest);

        var all = await client.ListReferrersAsync(repo, img.ManifestDigest);
        Assert.Equal([a.Digest, b.Digest], all.Select(d => d.Digest).ToArray());
        var clip = Assert.Single(await client.ListReferrersAsync(repo, img.ManifestDigest, MediaTypes.ClipIndexArtifact));
        Assert.Equal(a.Digest, clip.Digest);
        Assert.Equal("index", clip.Annotations!["org.example.note"]);

        // Independent check: skopeo sees the sha256-<hex> tag holding an OCI index of both referrers.
        string tag = RegistryClient.ReferrersTag(img.ManifestDigest);
        Assert.Equal("sha256-" + img.ManifestDigest.Hex, tag);
        var index = JsonNode.Parse(await f.Server.InspectRawAsync("test/oci", tag))!;
        Assert.Equal(MediaTypes.OciIndex, (string?)index["mediaType"]);
        Assert.Equal([a.Digest, b.Digest], index["manifests"]!.AsArray().Select(m => (string?)m!["digest"] ?? "").ToArray());

        // The artifact itself carries subject and artifactType and its blob comes back intact.
        var artifact = await client.GetManifestAsync(Reference.Parse($"{f.Registry}/test/oci@{a.Digest}"));
        var m = artifact.ParseManifest();
        Assert.Equal(MediaTypes.ClipIndexArtifact, m.ArtifactType);
        Assert.Equal(subject.Digest, m.Subject!.Digest);
        Assert.Equal(MediaTypes.OciEmpty, m.Config.MediaType);
        Assert.Equal(clipIndex, await client.GetBlobBytesAsync(repo, m.Layers[0]));
    }

    [Fact]
    public async Task Referrers_api_is_used_when_present_with_pagination_and_filtering()
    {
        var subject = Digest.Sha256("subject"u8);
        await using var fake = new FakeReferrersRegistry(subject);
        using var client = Client();
        var repo = new RepositoryName(fake.Address, "r");
        var all = await client.ListReferrersAsync(repo, subject);
        Assert.Equal(["sha256:" + new string('1', 64), "sha256:" + new string('2', 64), "sha256:" + new string('3', 64)], all.Select(d => d.Digest).ToArray());
        var onlyClip = await client.ListReferrersAsync(repo, subject, MediaTypes.ClipIndexArtifact);
        Assert.Equal(2, onlyClip.Count);
        Assert.Contains(fake.Seen, t => t.Contains("artifactType=" + Uri.EscapeDataString(MediaTypes.ClipIndexArtifact)));
        Assert.Contains(fake.Seen, t => t.Contains("page=2"));
        Assert.DoesNotContain(fake.Seen, t => t.Contains("/manifests/"));
    }

    /// <summary>A registry with the referrers API that pages its answer (Link: rel="next") and ignores filters.</summary>
    private sealed class FakeReferrersRegistry(Digest subject) : LoopbackHttpServer
    {
        public List<string> Seen { get; } = [];

        protected override async Task<bool> HandleAsync(HttpRequestData req, Stream conn, CancellationToken ct)
        {
            lock (Seen) Seen.Add(req.Target);
            if (!req.Path.StartsWith($"/v2/r/referrers/{subject}"))
            {
                await WriteResponseAsync(conn, 404, null, null, ct);
                return true;
            }
            bool second = req.Query.Contains("page=2");
            string Desc(char c, string type) => $$"""{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{{new string(c, 64)}}","size":100,"artifactType":"{{type}}"}""";
            string body = second
                ? $$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{Desc('3', MediaTypes.ClipIndexArtifact)}}]}"""
                : $$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{Desc('1', MediaTypes.ClipIndexArtifact)}},{{Desc('2', "application/vnd.example.sbom")}}]}""";
            var headers = new List<KeyValuePair<string, string>> { new("Content-Type", "application/vnd.oci.image.index.v1+json") };
            if (!second) headers.Add(new("Link", $"</v2/r/referrers/{subject}?page=2>; rel=\"next\""));
            await WriteResponseAsync(conn, 200, headers, Encoding.UTF8.GetBytes(body), ct);
            return true;
        }
    }
}
