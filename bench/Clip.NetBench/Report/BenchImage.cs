using System.Text.Json;
using Clip.Index.Format;

namespace Clip.NetBench.Report;

/// <summary>A benchmark image as stored in the OCI layout it was pushed from, with what its clip index says.</summary>
public sealed class BenchImage
{
    public required string Name { get; init; }
    public required string Reference { get; init; }
    public required string ManifestDigest { get; init; }
    public required long ManifestSize { get; init; }
    public required string ConfigDigest { get; init; }
    public required long ConfigSize { get; init; }
    public required List<(string Digest, long Size, long? Uncompressed)> Layers { get; init; }
    /// <summary>Size of the image's complete .clip index (image section and every layer), when it was made.</summary>
    public long? IndexFileSize { get; init; }

    public long CompressedSize => ManifestSize + ConfigSize + Layers.Sum(l => l.Size);
    public long? UncompressedSize => Layers.All(l => l.Uncompressed is not null) ? Layers.Sum(l => l.Uncompressed!.Value) : null;

    /// <summary>Reads <paramref name="tag"/> from an OCI layout; sizes past the manifest come from <paramref name="indexFile"/> when it exists.</summary>
    public static BenchImage Load(string name, string reference, string layout, string tag, string? indexFile)
    {
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(layout, "index.json")));
        var desc = index.RootElement.GetProperty("manifests").EnumerateArray()
            .FirstOrDefault(m => m.TryGetProperty("annotations", out var a) && a.TryGetProperty("org.opencontainers.image.ref.name", out var r) && r.GetString() == tag);
        if (desc.ValueKind == JsonValueKind.Undefined) throw new InvalidDataException($"{layout} has no image tagged {tag}");
        string manifestDigest = desc.GetProperty("digest").GetString()!;
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(BlobPath(layout, manifestDigest)));
        var config = manifest.RootElement.GetProperty("config");
        Dictionary<string, long> uncompressed = [];
        long? indexSize = null;
        if (indexFile is { Length: > 0 } && File.Exists(indexFile))
        {
            var clip = ClipIndexFile.Load(indexFile);
            foreach (var l in clip.Layers) uncompressed[l.Digest.ToString()] = l.UncompressedSize;
            indexSize = new FileInfo(indexFile).Length;
        }
        return new BenchImage
        {
            Name = name, Reference = reference, ManifestDigest = manifestDigest, ManifestSize = desc.GetProperty("size").GetInt64(),
            ConfigDigest = config.GetProperty("digest").GetString()!, ConfigSize = config.GetProperty("size").GetInt64(),
            Layers = manifest.RootElement.GetProperty("layers").EnumerateArray()
                .Select(l => (l.GetProperty("digest").GetString()!, l.GetProperty("size").GetInt64(),
                    uncompressed.TryGetValue(l.GetProperty("digest").GetString()!, out long u) ? u : (long?)null))
                .ToList(),
            IndexFileSize = indexSize,
        };
    }

    private static string BlobPath(string layout, string digest)
    {
        var parts = digest.Split(':', 2);
        return Path.Combine(layout, "blobs", parts[0], parts[1]);
    }

    /// <summary>
    /// What a registry request was for: "layer N" (1-based, bottom first), "manifest+config",
    /// "clip index" (referrers, the index artifact's manifest and blobs), "ping" (/v2/) or "other".
    /// </summary>
    public string Classify(string method, string target)
    {
        string path = target.Split('?', 2)[0];
        if (path is "/v2/" or "/v2") return "ping";
        int blobs = path.LastIndexOf("/blobs/", StringComparison.Ordinal);
        if (blobs >= 0)
        {
            string digest = Uri.UnescapeDataString(path[(blobs + 7)..]);
            if (digest.StartsWith("uploads", StringComparison.Ordinal)) return "other";
            int i = Layers.FindIndex(l => l.Digest == digest);
            if (i >= 0) return $"layer {i + 1}";
            if (digest == ConfigDigest) return "manifest+config";
            return "clip index";
        }
        int manifests = path.LastIndexOf("/manifests/", StringComparison.Ordinal);
        if (manifests >= 0)
        {
            string reference = Uri.UnescapeDataString(path[(manifests + 11)..]);
            if (reference == ManifestDigest || Reference.EndsWith(":" + reference, StringComparison.Ordinal) || !reference.Contains(':') && !reference.StartsWith("sha256-", StringComparison.Ordinal))
                return "manifest+config";
            return "clip index";
        }
        if (path.Contains("/referrers/", StringComparison.Ordinal)) return "clip index";
        _ = method;
        return "other";
    }
}
