using Clip.Index;
using Clip.Oci;
using Clip.Registry;
using Microsoft.Extensions.Logging;

namespace Clip.Content;

/// <summary>Builds readers for layers that live in a registry: Range GETs, chunk verification, whole-blob fetch when due, the span cache.</summary>
public static class RemoteLayers
{
    public static LayerReader OpenReader(RegistryClient client, RepositoryName repository, LayerIndex index, SpanCache cache,
        ContentOptions options, ContentMetrics? metrics = null, ReadStatistics? stats = null, ILogger? logger = null)
    {
        var remote = new VerifiedRangeSource(new RegistryRangeSource(client, repository, index.Digest, index.CompressedSize), index, metrics, stats);
        var source = new LayerBlobSource(index, remote,
            (path, ct) => client.DownloadBlobAsync(repository, index.Digest, path, index.CompressedSize, ct),
            options, metrics, logger, stats);
        return new LayerReader(index, source, cache, options, metrics, stats);
    }
}
