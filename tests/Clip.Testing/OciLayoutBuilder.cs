using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Clip.Testing;

/// <summary>
/// Writes an OCI image layout directory (image-spec image-layout.md) — what skopeo and umoci read and
/// write — holding images whose layers the test built. JSON is written here with plain
/// System.Text.Json nodes, independent of clip's own models.
/// </summary>
public sealed class OciLayoutBuilder
{
    public OciLayoutBuilder(string directory)
    {
        Directory = directory;
        System.IO.Directory.CreateDirectory(Path.Combine(directory, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(directory, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        if (!File.Exists(IndexPath))
            File.WriteAllText(IndexPath, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}");
    }

    public string Directory { get; }
    private string IndexPath => Path.Combine(Directory, "index.json");

    /// <summary>A layer blob and what it unpacks to.</summary>
    public sealed record Layer(byte[] Blob, byte[] Tar, string MediaType)
    {
        public string Digest => Sha256(Blob);
        public string DiffId => Sha256(Tar);

        public static Layer Gzip(LayerBuilder b) { var tar = b.BuildTar(); return new Layer(LayerBuilder.Gzip(tar), tar, "application/vnd.oci.image.layer.v1.tar+gzip"); }
        public static Layer Uncompressed(LayerBuilder b) { var tar = b.BuildTar(); return new Layer(tar, tar, "application/vnd.oci.image.layer.v1.tar"); }
    }

    /// <summary>What <see cref="AddImage"/> wrote.</summary>
    public sealed record Image(string ManifestDigest, byte[] Manifest, string ConfigDigest, IReadOnlyList<Layer> Layers);

    public static string Sha256(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>Writes a blob and returns its digest.</summary>
    public string WriteBlob(byte[] data)
    {
        string digest = Sha256(data);
        File.WriteAllBytes(BlobPath(digest), data);
        return digest;
    }

    public string BlobPath(string digest) => Path.Combine(Directory, "blobs", "sha256", digest["sha256:".Length..]);

    /// <summary>Adds an image (linux/amd64 unless told) tagged <paramref name="tag"/> to the layout's index.json.</summary>
    public Image AddImage(string tag, IReadOnlyList<Layer> layers, string architecture = "amd64", string[]? cmd = null,
        bool dockerMediaTypes = false)
    {
        var config = new JsonObject
        {
            ["architecture"] = architecture,
            ["os"] = "linux",
            ["config"] = new JsonObject
            {
                ["Env"] = new JsonArray("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                ["Cmd"] = new JsonArray((cmd ?? ["/bin/sh"]).Select(c => (JsonNode)JsonValue.Create(c)!).ToArray()),
            },
            ["rootfs"] = new JsonObject
            {
                ["type"] = "layers",
                ["diff_ids"] = new JsonArray(layers.Select(l => (JsonNode)JsonValue.Create(l.DiffId)!).ToArray()),
            },
        };
        byte[] configBytes = Encoding.UTF8.GetBytes(config.ToJsonString());
        string configDigest = WriteBlob(configBytes);
        foreach (var l in layers) WriteBlob(l.Blob);

        string layerType(Layer l) => dockerMediaTypes
            ? (l.MediaType.EndsWith("gzip") ? "application/vnd.docker.image.rootfs.diff.tar.gzip" : "application/vnd.docker.image.rootfs.diff.tar")
            : l.MediaType;
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = dockerMediaTypes ? "application/vnd.docker.distribution.manifest.v2+json" : "application/vnd.oci.image.manifest.v1+json",
            ["config"] = new JsonObject
            {
                ["mediaType"] = dockerMediaTypes ? "application/vnd.docker.container.image.v1+json" : "application/vnd.oci.image.config.v1+json",
                ["digest"] = configDigest,
                ["size"] = configBytes.Length,
            },
            ["layers"] = new JsonArray(layers.Select(l => (JsonNode)new JsonObject
            {
                ["mediaType"] = layerType(l),
                ["digest"] = l.Digest,
                ["size"] = l.Blob.Length,
            }).ToArray()),
        };
        byte[] manifestBytes = Encoding.UTF8.GetBytes(manifest.ToJsonString());
        string manifestDigest = WriteBlob(manifestBytes);

        var index = JsonNode.Parse(File.ReadAllText(IndexPath))!.AsObject();
        var manifests = index["manifests"]!.AsArray();
        manifests.Add(new JsonObject
        {
            ["mediaType"] = manifest["mediaType"]!.GetValue<string>(),
            ["digest"] = manifestDigest,
            ["size"] = manifestBytes.Length,
            ["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = tag },
            ["platform"] = new JsonObject { ["architecture"] = architecture, ["os"] = "linux" },
        });
        File.WriteAllText(IndexPath, index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return new Image(manifestDigest, manifestBytes, configDigest, layers);
    }
}
