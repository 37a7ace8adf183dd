using Clip.Oci;

namespace Clip.Index;

/// <summary>An image resolved to one platform's manifest and config.</summary>
public sealed record ResolvedImage(
    string Reference,
    Digest ManifestDigest,
    string ManifestMediaType,
    Manifest Manifest,
    Digest ConfigDigest,
    ImageConfig Config,
    Platform Platform);

/// <summary>
/// A local OCI image layout directory (image-spec image-layout.md), as skopeo, umoci and
/// buildah write it. Every blob read is checked against its digest.
/// </summary>
public sealed class OciLayout
{
    private OciLayout(string directory) => Directory = directory;

    public string Directory { get; }

    public static OciLayout Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory)) throw new DirectoryNotFoundException($"OCI layout {directory} does not exist");
        if (!File.Exists(Path.Combine(directory, "oci-layout")) || !File.Exists(Path.Combine(directory, "index.json")))
            throw new InvalidDataException($"{directory} is not an OCI image layout (oci-layout or index.json missing)");
        return new OciLayout(directory);
    }

    /// <summary>Splits "DIR[:REF]" as skopeo's oci: transport writes it.</summary>
    public static (string Directory, string? Reference) ParseLocation(string location)
    {
        int colon = location.LastIndexOf(':');
        if (colon > 0 && location.IndexOf('/', colon) < 0 && !System.IO.Directory.Exists(location))
            return (location[..colon], location[(colon + 1)..]);
        return (location, null);
    }

    public string BlobPath(Digest digest) => Path.Combine(Directory, "blobs", digest.Algorithm, digest.Hex);

    /// <summary>Reads a small blob whole and verifies it.</summary>
    public byte[] ReadBlob(Digest digest, long? size = null, long maxSize = 64 << 20)
    {
        var path = BlobPath(digest);
        if (!File.Exists(path)) throw new FileNotFoundException($"OCI layout {Directory}: blob {digest} is missing", path);
        var info = new FileInfo(path);
        if (size is { } s && info.Length != s) throw new InvalidDataException($"OCI layout {Directory}: blob {digest} is {info.Length} bytes, its descriptor says {s}");
        if (info.Length > maxSize) throw new InvalidDataException($"OCI layout {Directory}: blob {digest} is {info.Length} bytes, more than a manifest or config may be");
        var data = File.ReadAllBytes(path);
        using var h = digest.CreateHasher();
        h.AppendData(data);
        var actual = h.GetHashAndReset();
        if (!digest.Matches(actual)) throw Digest.Mismatch(digest, $"{digest.Algorithm}:{Convert.ToHexStringLower(actual)}", $"OCI layout {Directory}: blob");
        return data;
    }

    /// <summary>
    /// Resolves <paramref name="reference"/> (a tag from org.opencontainers.image.ref.name, a
    /// digest, or null when the layout holds one image) to one platform's manifest.
    /// </summary>
    public ResolvedImage Resolve(string? reference, Platform? platform = null)
    {
        platform ??= PlatformMatcher.Host;
        var index = OciJson.Parse<ImageIndex>(File.ReadAllBytes(Path.Combine(Directory, "index.json")), $"OCI layout {Directory}: index.json");
        Descriptor? top;
        if (reference is null)
        {
            if (index.Manifests.Count != 1)
                throw new InvalidDataException($"OCI layout {Directory} holds {index.Manifests.Count} images; name one as DIR:REF (tags: {string.Join(", ", Tags(index))})");
            top = index.Manifests[0];
        }
        else if (Digest.TryParse(reference, out var d))
        {
            top = index.Manifests.FirstOrDefault(m => m.Digest == d.ToString()) ?? new Descriptor { Digest = d.ToString(), MediaType = "" };
        }
        else
        {
            top = index.Manifests.FirstOrDefault(m => m.Annotations?.GetValueOrDefault("org.opencontainers.image.ref.name") == reference)
                ?? throw new KeyNotFoundException($"OCI layout {Directory} has no image tagged \"{reference}\" (tags: {string.Join(", ", Tags(index))})");
        }
        return ResolveDescriptor(top, reference ?? Tags(index).FirstOrDefault() ?? top.Digest, platform, depth: 0);
    }

    private ResolvedImage ResolveDescriptor(Descriptor desc, string reference, Platform platform, int depth)
    {
        if (depth > 4) throw new InvalidDataException($"OCI layout {Directory}: image indexes nest too deeply");
        var digest = Digest.Parse(desc.Digest);
        var bytes = ReadBlob(digest, desc.Size > 0 ? desc.Size : null);
        var probe = OciJson.Parse<MediaTypeProbe>(bytes, $"OCI layout {Directory}: {digest}");
        string mediaType = probe.MediaType ?? (desc.MediaType is { Length: > 0 } mt ? mt : probe.Manifests is not null ? MediaTypes.OciIndex : MediaTypes.OciManifest);
        if (MediaTypes.IsIndex(mediaType))
        {
            var idx = OciJson.Parse<ImageIndex>(bytes, $"OCI layout {Directory}: index {digest}");
            var chosen = PlatformMatcher.Select(idx, platform)
                ?? throw new KeyNotFoundException($"OCI layout {Directory}: {reference} has no image for {platform} (has: {string.Join(", ", idx.Manifests.Select(m => m.Platform?.ToString() ?? "?"))})");
            return ResolveDescriptor(chosen, reference, platform, depth + 1);
        }
        if (!MediaTypes.IsManifest(mediaType)) throw new InvalidDataException($"OCI layout {Directory}: {digest} has unsupported media type {mediaType}");
        var manifest = OciJson.Parse<Manifest>(bytes, $"OCI layout {Directory}: manifest {digest}");
        var configDigest = Digest.Parse(manifest.Config.Digest);
        var config = OciJson.Parse<ImageConfig>(ReadBlob(configDigest, manifest.Config.Size), $"OCI layout {Directory}: config {configDigest}");
        if (config.RootFs.DiffIds.Count != manifest.Layers.Count)
            throw new InvalidDataException($"OCI layout {Directory}: image {digest} has {manifest.Layers.Count} layers but its config lists {config.RootFs.DiffIds.Count} diff IDs");
        var actualPlatform = new Platform { Os = config.Os ?? platform.Os, Architecture = config.Architecture ?? platform.Architecture, Variant = config.Variant };
        return new ResolvedImage(reference, digest, mediaType, manifest, configDigest, config, actualPlatform);
    }

    private static IEnumerable<string> Tags(ImageIndex index) =>
        index.Manifests.Select(m => m.Annotations?.GetValueOrDefault("org.opencontainers.image.ref.name")).OfType<string>();
}
