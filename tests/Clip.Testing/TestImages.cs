using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Clip.Testing;

/// <summary>Small test images built in code, written as OCI layouts (for skopeo to push).</summary>
public static class TestImages
{
    /// <summary>Deterministic pseudo-random bytes (incompressible, so gzip layers keep their size).</summary>
    public static byte[] RandomBytes(int length, int seed)
    {
        var r = new Random(seed);
        byte[] b = new byte[length];
        r.NextBytes(b);
        return b;
    }

    /// <summary>
    /// An image with <paramref name="layerCount"/> gzip layers, each holding one file of <paramref name="fileSize"/>
    /// random bytes (plus a small text file), tagged <paramref name="tag"/> in <paramref name="layout"/>.
    /// </summary>
    public static OciLayoutBuilder.Image Simple(OciLayoutBuilder layout, string tag, int layerCount = 2, int fileSize = 300_000,
        int seed = 1, string architecture = "amd64", bool dockerMediaTypes = false)
    {
        var layers = new List<OciLayoutBuilder.Layer>();
        for (int i = 0; i < layerCount; i++)
        {
            var b = new LayerBuilder()
                .Dir($"layer{i}")
                .File($"layer{i}/data.bin", RandomBytes(fileSize, seed * 1000 + i))
                .File($"layer{i}/hello.txt", $"hello from layer {i} of {tag}\n");
            layers.Add(OciLayoutBuilder.Layer.Gzip(b));
        }
        return layout.AddImage(tag, layers, architecture, dockerMediaTypes: dockerMediaTypes);
    }

    /// <summary>What <see cref="MultiPlatform"/> wrote.</summary>
    public sealed record Index(string Digest, byte[] Bytes, IReadOnlyDictionary<string, OciLayoutBuilder.Image> ByPlatform);

    /// <summary>
    /// One image per platform ("linux/amd64", "linux/arm64/v8", …) and an OCI image index over them, tagged
    /// <paramref name="tag"/> in the layout's index.json (push it with skopeo --all).
    /// </summary>
    public static Index MultiPlatform(OciLayoutBuilder layout, string tag, IReadOnlyList<string> platforms, int fileSize = 50_000)
    {
        var images = new Dictionary<string, OciLayoutBuilder.Image>();
        var entries = new JsonArray();
        int seed = 7;
        foreach (string platform in platforms)
        {
            var parts = platform.Split('/');
            var img = Simple(layout, $"{tag}-{parts[1]}{(parts.Length > 2 ? parts[2] : "")}", 1, fileSize, seed++, parts[1]);
            images[platform] = img;
            var p = new JsonObject { ["architecture"] = parts[1], ["os"] = parts[0] };
            if (parts.Length > 2) p["variant"] = parts[2];
            entries.Add(new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
                ["digest"] = img.ManifestDigest,
                ["size"] = img.Manifest.Length,
                ["platform"] = p,
            });
        }
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.index.v1+json",
            ["manifests"] = entries,
        };
        byte[] bytes = Encoding.UTF8.GetBytes(index.ToJsonString());
        string digest = layout.WriteBlob(bytes);
        string indexPath = Path.Combine(layout.Directory, "index.json");
        var top = JsonNode.Parse(File.ReadAllText(indexPath))!.AsObject();
        top["manifests"]!.AsArray().Add(new JsonObject
        {
            ["mediaType"] = "application/vnd.oci.image.index.v1+json",
            ["digest"] = digest,
            ["size"] = bytes.Length,
            ["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = tag },
        });
        File.WriteAllText(indexPath, top.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return new Index(digest, bytes, images);
    }

    public static string Sha256(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));
}
