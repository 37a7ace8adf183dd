namespace Clip.Oci;

/// <summary>Media types of the OCI image-spec v1.1 and Docker image manifest v2 schema 2.</summary>
public static class MediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string OciLayerNondistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    public const string OciEmpty = "application/vnd.oci.empty.v1+json";

    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// <summary>The artifact type of a clip index stored in a registry.</summary>
    public const string ClipIndexArtifact = "application/vnd.clip.index.v1";
    /// <summary>The media type of a .clip index blob.</summary>
    public const string ClipIndexBlob = "application/vnd.clip.index.v1.clip";
    /// <summary>A gzip-compressed .clip index blob (what clip pushes: entry tables compress well).</summary>
    public const string ClipIndexBlobGzip = "application/vnd.clip.index.v1.clip+gzip";

    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;
    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    /// <summary>How a layer's bytes are compressed, from its media type.</summary>
    public static LayerCompression CompressionOf(string mediaType) => mediaType switch
    {
        OciLayerGzip or DockerLayerGzip or OciLayerNondistributableGzip or DockerForeignLayerGzip
            or "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => LayerCompression.Gzip,
        OciLayer or "application/vnd.oci.image.layer.nondistributable.v1.tar" or "application/vnd.docker.image.rootfs.diff.tar" => LayerCompression.None,
        OciLayerZstd or "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => LayerCompression.Zstd,
        _ => LayerCompression.Unknown,
    };
}

/// <summary>The compression of a layer blob.</summary>
public enum LayerCompression : byte
{
    Unknown = 0,
    None = 1,
    Gzip = 2,
    Zstd = 3,
}
