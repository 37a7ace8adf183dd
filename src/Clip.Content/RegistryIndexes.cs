using System.Globalization;
using Clip.Index;
using Clip.Index.Format;
using Clip.Oci;
using Clip.Registry;

namespace Clip.Content;

/// <summary>
/// Stores an image's clip index in the image's own registry repository as an OCI artifact whose
/// subject is the image manifest (found through the referrers API, or the sha256-&lt;hex&gt; tag
/// schema on registries without it): one blob per layer index (so layers shared between images
/// share blobs) and one blob with the image section. One node indexes; every node reuses.
/// </summary>
public static class RegistryIndexes
{
    public const string KindAnnotation = "io.clip.index.kind";
    public const string LayerAnnotation = "io.clip.index.layer";
    public const string VersionAnnotation = "io.clip.index.version";
    public const string CreatedAnnotation = "org.opencontainers.image.created";

    /// <summary>Pushes the index of an image as a referrer of <paramref name="manifest"/>.</summary>
    public static async Task<Descriptor> PushAsync(RegistryClient client, RepositoryName repository, Descriptor manifest, ImageInfo image,
        IReadOnlyList<LayerIndex> layers, CancellationToken cancellationToken = default)
    {
        if (manifest.Digest != image.ManifestDigest.ToString())
            throw new ArgumentException($"index is for image {image.ManifestDigest}, not {manifest.Digest}");
        var blobs = new List<(ReadOnlyMemory<byte>, string, IReadOnlyDictionary<string, string>?)>
        {
            (ClipIndexFile.Serialize(image, []), MediaTypes.ClipIndexBlob, new Dictionary<string, string> { [KindAnnotation] = "image" }),
        };
        foreach (var l in layers)
            blobs.Add((ClipIndexFile.Serialize(null, [l.Section]), MediaTypes.ClipIndexBlob,
                new Dictionary<string, string> { [KindAnnotation] = "layer", [LayerAnnotation] = l.Digest.ToString() }));
        var annotations = new Dictionary<string, string>
        {
            [VersionAnnotation] = ClipFormat.Version.ToString(CultureInfo.InvariantCulture),
            [CreatedAnnotation] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
        };
        return await client.PushArtifactAsync(repository, manifest, MediaTypes.ClipIndexArtifact, blobs, annotations, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Finds the newest clip index stored for <paramref name="manifest"/>, downloads the blobs the
    /// store lacks (digest-verified, then structurally validated) and puts them in the store.
    /// Returns null when the registry holds none this build can read.
    /// </summary>
    public static async Task<(ImageInfo Image, IReadOnlyList<LayerIndex> Layers)?> FetchAsync(RegistryClient client, RepositoryName repository,
        Digest manifest, IndexStore store, CancellationToken cancellationToken = default)
    {
        var referrers = await client.ListReferrersAsync(repository, manifest, MediaTypes.ClipIndexArtifact, cancellationToken).ConfigureAwait(false);
        foreach (var r in referrers
                     .Where(r => r.Annotations?.GetValueOrDefault(VersionAnnotation) is null or "1")
                     .OrderByDescending(r => r.Annotations?.GetValueOrDefault(CreatedAnnotation) ?? "", StringComparer.Ordinal))
        {
            var content = await client.GetManifestAsync(repository, r.Digest, cancellationToken).ConfigureAwait(false);
            var artifact = OciJson.Parse<Manifest>(content.Bytes, $"clip index artifact {r.Digest}");
            var imageBlob = artifact.Layers.FirstOrDefault(l => l.Annotations?.GetValueOrDefault(KindAnnotation) == "image");
            if (imageBlob is null) continue;
            var imageFile = ClipIndexFile.Parse(await client.GetBlobBytesAsync(repository, imageBlob, cancellationToken).ConfigureAwait(false));
            var image = imageFile.Image ?? throw new IndexFormatException($"clip index artifact {r.Digest}: image blob has no image section");
            if (image.ManifestDigest != manifest)
                throw new IndexFormatException($"clip index artifact {r.Digest} describes image {image.ManifestDigest}, not {manifest}");
            var layers = new List<LayerIndex>();
            foreach (var l in image.Layers)
            {
                var have = store.GetLayer(l.Digest);
                if (have is null)
                {
                    var blob = artifact.Layers.FirstOrDefault(b => b.Annotations?.GetValueOrDefault(LayerAnnotation) == l.Digest.ToString())
                        ?? throw new IndexFormatException($"clip index artifact {r.Digest} lacks layer {l.Digest}");
                    var file = ClipIndexFile.Parse(await client.GetBlobBytesAsync(repository, blob, cancellationToken).ConfigureAwait(false));
                    have = file.FindLayer(l.Digest) ?? throw new IndexFormatException($"clip index blob {blob.Digest} does not hold layer {l.Digest}");
                }
                if (have.DiffId != l.DiffId) throw new IndexFormatException($"clip index for layer {l.Digest} unpacks to {have.DiffId}, the image says {l.DiffId}");
                layers.Add(have);
            }
            store.PutImage(image, layers);
            return (image, layers);
        }
        return null;
    }
}
