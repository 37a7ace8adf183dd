using Clip.Index;
using Clip.Index.Build;
using Clip.Oci;
using Clip.Registry;

namespace Clip.Content;

/// <summary>Where an image's index came from.</summary>
public enum IndexOrigin
{
    /// <summary>The local index store already had it.</summary>
    Store,
    /// <summary>Fetched from the registry, where another node stored it.</summary>
    Registry,
    /// <summary>Indexed now, streaming each missing layer once.</summary>
    Indexed,
}

/// <summary>An image resolved in its registry together with the index of every layer.</summary>
public sealed record IndexedImage(Clip.Registry.ResolvedImage Resolved, ImageInfo Image, IReadOnlyList<LayerIndex> Layers, IndexOrigin Origin);

/// <summary>
/// Gets indexes: from the local store, else from the registry (an index artifact bound to the
/// image), else by indexing now — streaming each layer that no known index covers, once.
/// </summary>
public sealed class ImageIndexProvider(RegistryClient client, IndexStore store, LayerIndexOptions indexOptions)
{
    public IndexStore Store => store;
    public RegistryClient Client => client;

    /// <summary>The index of an image; <paramref name="allowIndexing"/> false makes "not indexed anywhere" an error instead of a full read.</summary>
    public async Task<IndexedImage> GetImageAsync(Reference reference, Platform? platform = null, bool allowIndexing = true,
        IProgress<IndexProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var resolved = await client.ResolveImageAsync(reference, platform, cancellationToken).ConfigureAwait(false);
        if (store.LoadImage(resolved.ManifestDigest) is { } local)
            return new IndexedImage(resolved, local.Image, local.Layers, IndexOrigin.Store);
        if (await RegistryIndexes.FetchAsync(client, resolved.Repository, resolved.ManifestDigest, store, cancellationToken).ConfigureAwait(false) is { } remote)
            return new IndexedImage(resolved, remote.Image, remote.Layers, IndexOrigin.Registry);
        if (!allowIndexing)
            throw new KeyNotFoundException($"no clip index for {reference} ({resolved.ManifestDigest}) in the local store or the registry; run clipctl index --image {reference} --push");
        var (image, layers) = await IndexNowAsync(resolved, progress, cancellationToken).ConfigureAwait(false);
        store.PutImage(image, layers);
        return new IndexedImage(resolved, image, layers, IndexOrigin.Indexed);
    }

    /// <summary>Indexes every layer of a resolved image that the store does not already cover.</summary>
    public async Task<(ImageInfo Image, IReadOnlyList<LayerIndex> Layers)> IndexNowAsync(Clip.Registry.ResolvedImage resolved,
        IProgress<IndexProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var config = await client.GetImageConfigAsync(resolved, cancellationToken).ConfigureAwait(false);
        var platform = new Platform
        {
            Os = config.Os ?? resolved.Platform?.Os ?? "linux",
            Architecture = config.Architecture ?? resolved.Platform?.Architecture ?? "",
            Variant = config.Variant ?? resolved.Platform?.Variant,
        };
        var image = new Clip.Index.ResolvedImage(resolved.Reference.ToString(), resolved.ManifestDigest, resolved.ManifestDescriptor.MediaType,
            resolved.Manifest, resolved.Config.ParsedDigest, config, platform);
        return await ImageIndexer.IndexAsync(image,
            (layer, ct) => client.OpenBlobAsync(resolved.Repository, layer.ParsedDigest, layer.Size, ct),
            indexOptions, progress, cancellationToken, reuse: store.GetLayer).ConfigureAwait(false);
    }

    /// <summary>
    /// The index of one layer: the store, else the registry artifact of <paramref name="manifest"/>
    /// (when known), else indexing the layer now.
    /// </summary>
    public async Task<LayerIndex> GetLayerAsync(RepositoryName repository, Descriptor layer, Digest? manifest, CancellationToken cancellationToken = default)
    {
        var digest = layer.ParsedDigest;
        if (store.GetLayer(digest) is { } local) return local;
        if (manifest is { } m && store.GetImage(m) is null)
        {
            try
            {
                await RegistryIndexes.FetchAsync(client, repository, m, store, cancellationToken).ConfigureAwait(false);
            }
            catch (RegistryException e) when (e.Kind is RegistryErrorKind.NotFound or RegistryErrorKind.Unsupported)
            {
                // no stored index: fall through to indexing
            }
            if (store.GetLayer(digest) is { } fetched) return fetched;
        }
        await using var blob = await client.OpenBlobAsync(repository, digest, layer.Size, cancellationToken).ConfigureAwait(false);
        var index = await LayerIndexer.IndexAsync(blob, digest, layer.MediaType, layer.Size, indexOptions, cancellationToken: cancellationToken).ConfigureAwait(false);
        store.PutLayer(index);
        return index;
    }
}
