using Clip.Oci;

namespace Clip.Registry;

/// <summary>A manifest or index fetched from a registry; <see cref="Bytes"/> hash to <see cref="Descriptor"/>'s digest (checked).</summary>
public sealed record ManifestContent(Descriptor Descriptor, byte[] Bytes)
{
    public Digest Digest => Descriptor.ParsedDigest;
    public string MediaType => Descriptor.MediaType;
    public bool IsIndex => MediaTypes.IsIndex(MediaType);

    /// <summary>The bytes as an image manifest (Docker v2 schema 2 or OCI).</summary>
    public Manifest ParseManifest() => OciJson.Parse<Manifest>(Bytes, $"manifest {Digest}");

    /// <summary>The bytes as an image index / manifest list.</summary>
    public ImageIndex ParseIndex() => OciJson.Parse<ImageIndex>(Bytes, $"index {Digest}");
}

/// <summary>
/// An image resolved to one platform's manifest: what <c>clipctl index --image</c> and the snapshotter start from.
/// </summary>
public sealed record ResolvedImage
{
    /// <summary>The reference as asked, pinned to <see cref="ManifestDigest"/>'s top level (the index digest when there is one).</summary>
    public required Reference Reference { get; init; }
    /// <summary>The index or manifest list the tag pointed to, when it pointed to one.</summary>
    public Descriptor? Index { get; init; }
    /// <summary>The platform manifest's descriptor (media type, digest, size).</summary>
    public required Descriptor ManifestDescriptor { get; init; }
    /// <summary>The platform manifest's exact bytes (digest-verified).</summary>
    public required byte[] ManifestBytes { get; init; }
    public required Manifest Manifest { get; init; }
    /// <summary>The platform chosen from the index, or null when the reference named a single manifest.</summary>
    public Platform? Platform { get; init; }

    public Digest ManifestDigest => ManifestDescriptor.ParsedDigest;
    public Descriptor Config => Manifest.Config;
    public IReadOnlyList<Descriptor> Layers => Manifest.Layers;
    public RepositoryName Repository => Reference.RepositoryName;
    /// <summary>True for Docker v2 schema 2 media types, false for OCI.</summary>
    public bool IsDocker => ManifestDescriptor.MediaType == MediaTypes.DockerManifest;
}

/// <summary>What a manifest PUT returned.</summary>
/// <param name="Descriptor">The pushed manifest's descriptor.</param>
/// <param name="SubjectProcessed">The registry answered <c>OCI-Subject</c>: it indexes referrers itself (distribution-spec v1.1).</param>
public sealed record PushedManifest(Descriptor Descriptor, bool SubjectProcessed);
