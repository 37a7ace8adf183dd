using Clip.Gzip;
using Clip.Oci;
using Clip.Registry;

namespace Clip.Content;

/// <summary>A layer blob in a registry, read with Range GETs. Bytes are not verified here: wrap it in a <see cref="VerifiedRangeSource"/>.</summary>
public sealed class RegistryRangeSource(RegistryClient client, RepositoryName repository, Digest digest, long length) : IRangeSource
{
    public long Length => length;
    public RepositoryName Repository => repository;
    public Digest Digest => digest;

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (offset < 0 || offset + destination.Length > length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range {offset}+{destination.Length} is outside blob {digest} ({length} bytes)");
        await client.ReadBlobRangeAsync(repository, digest, offset, destination, cancellationToken).ConfigureAwait(false);
    }
}
