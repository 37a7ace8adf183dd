namespace Clip.Snapshots.Remote;

/// <summary>
/// A layer the snapshotter asks the lazy filesystem to serve, read from the labels containerd
/// forwards on Prepare (CRI's or ctr-remote's) or returned by
/// <see cref="IRemoteLayerFileSystem.TryResolveChainIdAsync"/>.
/// </summary>
/// <param name="ChainId">The committed snapshot name containerd wants (<c>containerd.io/snapshot.ref</c>).</param>
/// <param name="ImageReference">Image reference to fetch from, e.g. <c>registry:5000/app:1</c>.</param>
/// <param name="LayerDigest">The layer blob's digest (compressed).</param>
/// <param name="ManifestDigest">Digest of the image manifest the layer belongs to, when known.</param>
/// <param name="ImageLayers">All layer digests of the image, bottom first (may be truncated by containerd to fit a label).</param>
/// <param name="Labels">Every label the layer was described with; stored, and handed back unchanged on restore.</param>
public sealed record RemoteLayer(
    string ChainId,
    string? ImageReference,
    string? LayerDigest,
    string? ManifestDigest,
    IReadOnlyList<string> ImageLayers,
    IReadOnlyDictionary<string, string> Labels)
{
    /// <summary>Whether the labels carried image information (otherwise only the chain ID is known).</summary>
    public bool HasImageInformation => ImageReference is not null && LayerDigest is not null;

    /// <summary>Reads a layer from Prepare labels; null when there is no <c>containerd.io/snapshot.ref</c>.</summary>
    public static RemoteLayer? FromLabels(IReadOnlyDictionary<string, string> labels)
    {
        if (!labels.TryGetValue(RemoteLabels.TargetSnapshotRef, out string? target) || target.Length == 0)
            return null;
        string? imageRef = First(labels, RemoteLabels.CriImageRef, RemoteLabels.StargzReference);
        string? layer = First(labels, RemoteLabels.CriLayerDigest, RemoteLabels.StargzDigest);
        string? manifest = First(labels, RemoteLabels.CriManifestDigest);
        string? layers = First(labels, RemoteLabels.CriImageLayers, RemoteLabels.StargzLayers);
        var list = layers is null ? [] : layers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new RemoteLayer(target, imageRef, layer, manifest, list, labels);
    }

    /// <summary>The labels stored for restore: <see cref="Labels"/> with the chain ID always present.</summary>
    public IReadOnlyDictionary<string, string> StoredLabels()
    {
        var stored = new Dictionary<string, string>(Labels, StringComparer.Ordinal) { [RemoteLabels.TargetSnapshotRef] = ChainId };
        return stored;
    }

    private static string? First(IReadOnlyDictionary<string, string> labels, params string[] keys)
    {
        foreach (string k in keys)
            if (labels.TryGetValue(k, out string? v) && v.Length > 0) return v;
        return null;
    }
}

/// <summary>Label names the remote flow reads and writes, with where they come from.</summary>
public static class RemoteLabels
{
    /// <summary>containerd (snapshots.go, unpacker): the chain ID the snapshot will be committed as.</summary>
    public const string TargetSnapshotRef = "containerd.io/snapshot.ref";

    /// <summary>Set by clip on a snapshot it committed itself from a lazily served layer (stargz uses the same key).</summary>
    public const string Remote = "containerd.io/snapshot/remote";

    /// <summary>Value of <see cref="Remote"/> (stargz-snapshotter's value, kept for tools that look for it).</summary>
    public const string RemoteValue = "remote snapshot";

    // containerd CRI plugin (pkg/cri/.../image_pull.go, "snapshot annotations"), containerd 1.4+.
    public const string CriImageRef = "containerd.io/snapshot/cri.image-ref";
    public const string CriLayerDigest = "containerd.io/snapshot/cri.layer-digest";
    public const string CriManifestDigest = "containerd.io/snapshot/cri.manifest-digest";
    public const string CriImageLayers = "containerd.io/snapshot/cri.image-layers";

    // ctr-remote / stargz-snapshotter source helper (fs/source/source.go).
    public const string StargzReference = "containerd.io/snapshot/remote/stargz.reference";
    public const string StargzDigest = "containerd.io/snapshot/remote/stargz.digest";
    public const string StargzLayers = "containerd.io/snapshot/remote/stargz.layers";
}
