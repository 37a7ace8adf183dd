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
            (Compress(ClipIndexFile.Serialize(image, [])), MediaTypes.ClipIndexBlobGzip, new Dictionary<string, string> { [KindAnnotation] = "image" }),
        };
        foreach (var l in layers)
            blobs.Add((Compress(ClipIndexFile.Serialize(null, [l.Section])), MediaTypes.ClipIndexBlobGzip,
                new Dictionary<string, string> { [KindAnnotation] = "layer", [LayerAnnotation] = l.Digest.ToString() }));
        var annotations = new Dictionary<string, string>
        {
            [VersionAnnotation] = ClipFormat.Version.ToString(CultureInfo.InvariantCulture),
            [CreatedAnnotation] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
        };
        return await client.PushArtifactAsync(repository, manifest, MediaTypes.ClipIndexArtifact, blobs, annotations, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Index files are bounded: a blob that inflates beyond this is refused rather than filling memory.</summary>
    public const int MaxIndexBytes = 1 << 30;

    private static byte[] Compress(byte[] data)
    {
        var ms = new MemoryStream(data.Length / 2);
        using (var gz = new System.IO.Compression.GZipStream(ms, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    /// <summary>Downloads an index blob (digest-verified by the client) and inflates it when it is gzip-compressed.</summary>
    private static async Task<byte[]> ReadIndexBlobAsync(RegistryClient client, RepositoryName repository, Descriptor blob, CancellationToken ct)
    {
        var bytes = await client.GetBlobBytesAsync(repository, blob, ct).ConfigureAwait(false);
        if (blob.MediaType == MediaTypes.ClipIndexBlob) return bytes;
        if (blob.MediaType != MediaTypes.ClipIndexBlobGzip) throw new IndexFormatException($"clip index blob {blob.Digest} has unknown media type {blob.MediaType}");
        using var gz = new System.IO.Compression.GZipStream(new MemoryStream(bytes), System.IO.Compression.CompressionMode.Decompress);
        var output = new MemoryStream(bytes.Length * 3);
        var buffer = new byte[81920];
        int n;
        while ((n = await gz.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            if (output.Length + n > MaxIndexBytes) throw new IndexFormatException($"clip index blob {blob.Digest} inflates beyond {MaxIndexBytes} bytes");
            output.Write(buffer, 0, n);
        }
        return output.ToArray();
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
            var imageFile = ClipIndexFile.Parse(await ReadIndexBlobAsync(client, repository, imageBlob, cancellationToken).ConfigureAwait(false));
            var image = imageFile.Image ?? throw new IndexFormatException($"clip index artifact {r.Digest}: image blob has no image section");
            if (image.ManifestDigest != manifest)
                throw new IndexFormatException($"clip index artifact {r.Digest} describes image {image.ManifestDigest}, not {manifest}");
            // Layer indexes the store lacks are fetched in parallel (one round trip, not one per layer).
            var fetches = image.Layers.Select(async l =>
            {
                if (store.GetLayer(l.Digest) is { } have) return have;
                var blob = artifact.Layers.FirstOrDefault(b => b.Annotations?.GetValueOrDefault(LayerAnnotation) == l.Digest.ToString())
                    ?? throw new IndexFormatException($"clip index artifact {r.Digest} lacks layer {l.Digest}");
                var file = ClipIndexFile.Parse(await ReadIndexBlobAsync(client, repository, blob, cancellationToken).ConfigureAwait(false));
                return file.FindLayer(l.Digest) ?? throw new IndexFormatException($"clip index blob {blob.Digest} does not hold layer {l.Digest}");
            }).ToList();
            var layers = new List<LayerIndex>();
            for (int i = 0; i < fetches.Count; i++)
            {
                var have = await fetches[i].ConfigureAwait(false);
                var l = image.Layers[i];
                if (have.DiffId != l.DiffId) throw new IndexFormatException($"clip index for layer {l.Digest} unpacks to {have.DiffId}, the image says {l.DiffId}");
                layers.Add(have);
            }
            store.PutImage(image, layers);
            return (image, layers);
        }
        return null;
    }
}
