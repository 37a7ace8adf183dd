using System.Collections.Concurrent;
using Clip.Index;
using Clip.Index.Format;
using Clip.Oci;

namespace Clip.Content;

/// <summary>
/// The local store of indexes, content-addressed: one single-layer .clip file per layer digest
/// (shared by every image that has the layer) and one image .clip file (image section only) per
/// manifest digest. Files are written durably; loaded layers are kept in memory.
/// </summary>
public sealed class IndexStore
{
    private readonly string _root;
    private readonly ConcurrentDictionary<Digest, LayerIndex> _layers = new();
    private readonly ConcurrentDictionary<Digest, ImageInfo> _images = new();

    public IndexStore(string root)
    {
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(_root);
    }

    public string Root => _root;

    private string LayerPath(Digest d) => Path.Combine(_root, "layers", d.Algorithm, d.Hex + ".clip");
    private string ImagePath(Digest d) => Path.Combine(_root, "images", d.Algorithm, d.Hex + ".clip");

    /// <summary>The index of a layer, or null when the store does not have it.</summary>
    public LayerIndex? GetLayer(Digest layer)
    {
        if (_layers.TryGetValue(layer, out var cached)) return cached;
        string path = LayerPath(layer);
        if (!File.Exists(path)) return null;
        var file = ClipIndexFile.Load(path);
        var index = file.FindLayer(layer) ?? throw new IndexFormatException($"{path} does not hold layer {layer}");
        return _layers.GetOrAdd(layer, index);
    }

    public void PutLayer(LayerIndex layer)
    {
        string path = LayerPath(layer.Digest);
        if (!File.Exists(path)) ClipIndexFile.Write(path, null, [layer.Section]);
        _layers.TryAdd(layer.Digest, layer);
    }

    public ImageInfo? GetImage(Digest manifest)
    {
        if (_images.TryGetValue(manifest, out var cached)) return cached;
        string path = ImagePath(manifest);
        if (!File.Exists(path)) return null;
        var image = ClipIndexFile.Load(path).Image ?? throw new IndexFormatException($"{path} has no image section");
        return _images.GetOrAdd(manifest, image);
    }

    /// <summary>Stores an image and its layers.</summary>
    public void PutImage(ImageInfo image, IEnumerable<LayerIndex> layers)
    {
        foreach (var l in layers) PutLayer(l);
        string path = ImagePath(image.ManifestDigest);
        ClipIndexFile.Write(path, image, []);
        _images[image.ManifestDigest] = image;
    }

    /// <summary>An image with all its layer indexes, or null when the image or any layer is missing.</summary>
    public (ImageInfo Image, IReadOnlyList<LayerIndex> Layers)? LoadImage(Digest manifest)
    {
        var image = GetImage(manifest);
        if (image is null) return null;
        var layers = new List<LayerIndex>();
        foreach (var l in image.Layers)
        {
            var layer = GetLayer(l.Digest);
            if (layer is null) return null;
            layers.Add(layer);
        }
        return (image, layers);
    }

    /// <summary>Adds everything a .clip file holds.</summary>
    public ImageInfo? Import(ClipIndexFile file)
    {
        foreach (var l in file.Layers) PutLayer(l);
        if (file.Image is { } image)
        {
            ClipIndexFile.Write(ImagePath(image.ManifestDigest), image, []);
            _images[image.ManifestDigest] = image;
        }
        return file.Image;
    }

    /// <summary>A full .clip file (image and layers) for an image in the store.</summary>
    public byte[] Export(Digest manifest)
    {
        var loaded = LoadImage(manifest) ?? throw new KeyNotFoundException($"index store has no complete index for image {manifest}");
        return ClipIndexFile.Serialize(loaded.Image, loaded.Layers.Select(l => l.Section));
    }

    /// <summary>Every image in the store.</summary>
    public IEnumerable<ImageInfo> Images()
    {
        string dir = Path.Combine(_root, "images", "sha256");
        if (!Directory.Exists(dir)) yield break;
        foreach (var f in Directory.EnumerateFiles(dir, "*.clip"))
        {
            if (!Digest.TryParse("sha256:" + Path.GetFileNameWithoutExtension(f), out var d)) continue;
            ImageInfo? image;
            try { image = GetImage(d); }
            catch (IndexFormatException) { continue; }
            if (image is not null) yield return image;
        }
    }

    /// <summary>
    /// The image and layer position whose chain ID is <paramref name="chainId"/> (how a snapshotter
    /// recognises a layer from containerd's snapshot key when no image labels came with it).
    /// </summary>
    public (ImageInfo Image, int Layer)? FindByChainId(Digest chainId)
    {
        foreach (var image in Images())
        {
            var chain = image.ChainIds;
            for (int i = 0; i < chain.Count; i++)
                if (chain[i] == chainId && GetLayer(image.Layers[i].Digest) is not null) return (image, i);
        }
        return null;
    }

    /// <summary>Layer index files in the store.</summary>
    public IEnumerable<Digest> LayerDigests()
    {
        string dir = Path.Combine(_root, "layers", "sha256");
        if (!Directory.Exists(dir)) yield break;
        foreach (var f in Directory.EnumerateFiles(dir, "*.clip"))
            if (Digest.TryParse("sha256:" + Path.GetFileNameWithoutExtension(f), out var d)) yield return d;
    }
}
