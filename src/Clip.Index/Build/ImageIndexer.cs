using Clip.Oci;

namespace Clip.Index.Build;

/// <summary>Progress of an image indexing run: which layer, how many of its bytes have been read.</summary>
public readonly record struct IndexProgress(int Layer, int LayerCount, Digest Digest, long Done, long Total);

/// <summary>Indexes every layer of a resolved image and checks each against the config's diff IDs.</summary>
public static class ImageIndexer
{
    /// <summary>Opens a layer blob for streaming (a local file or a registry download).</summary>
    public delegate Task<Stream> BlobOpener(Descriptor layer, CancellationToken cancellationToken);

    public static async Task<(ImageInfo Image, IReadOnlyList<LayerIndex> Layers)> IndexAsync(ResolvedImage image, BlobOpener open,
        LayerIndexOptions options, IProgress<IndexProgress>? progress = null, CancellationToken cancellationToken = default,
        Func<Digest, LayerIndex?>? reuse = null)
    {
        var layers = new List<LayerIndex>();
        var infos = new List<ImageLayer>();
        for (int i = 0; i < image.Manifest.Layers.Count; i++)
        {
            var desc = image.Manifest.Layers[i];
            var digest = Digest.Parse(desc.Digest);
            var diffId = Digest.Parse(image.Config.RootFs.DiffIds[i]);
            var layer = reuse?.Invoke(digest);
            if (layer is null)
            {
                await using var blob = await open(desc, cancellationToken).ConfigureAwait(false);
                int n = i;
                var p = progress is null ? null : new InlineProgress<long>(done => progress.Report(new IndexProgress(n, image.Manifest.Layers.Count, digest, done, desc.Size)));
                layer = await LayerIndexer.IndexAsync(blob, digest, desc.MediaType, desc.Size, options, p, cancellationToken).ConfigureAwait(false);
            }
            if (layer.DiffId != diffId)
                throw new InvalidDataException($"layer {digest} unpacks to {layer.DiffId}, but the image config says its diff ID is {diffId}");
            progress?.Report(new IndexProgress(i, image.Manifest.Layers.Count, digest, desc.Size, desc.Size));
            layers.Add(layer);
            infos.Add(new ImageLayer(digest, desc.MediaType, desc.Size, diffId));
        }
        var info = new ImageInfo(image.Reference, image.ManifestDigest, image.ManifestMediaType, image.Platform.ToString(), image.ConfigDigest, infos);
        return (info, layers);
    }

}

/// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread (Progress&lt;T&gt; posts to the thread pool).</summary>
public sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
