using System.Net;
using Clip.Oci;
using Clip.Registry.Hosts;
using Clip.Registry.Http;

namespace Clip.Registry;

public sealed partial class RegistryClient
{
    /// <summary>
    /// Opens bytes <c>[start, endExclusive)</c> of a blob as a stream that yields exactly those bytes (then end of
    /// stream), whatever the registry does with the Range header; retried and resumed within
    /// <see cref="RegistryClientOptions.Deadline"/>, counted from now to the last byte. Range bytes cannot be
    /// digest-checked here — the caller verifies them against its own index.
    /// </summary>
    /// <exception cref="RegistryException">NotFound, BadRange (beyond the blob), TooManyRetries, DeadlineExceeded, …</exception>
    public async Task<Stream> OpenBlobRangeAsync(RepositoryName repository, Digest digest, long start, long endExclusive,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfLessThan(endExclusive, start);
        return await BlobStream.OpenRangeAsync(_transport, repository, digest, PullHosts(repository.Registry), start, endExclusive, cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>Fills <paramref name="destination"/> with the blob's bytes from <paramref name="offset"/> on, exactly.</summary>
    public async Task ReadBlobRangeAsync(RepositoryName repository, Digest digest, long offset, Memory<byte> destination,
        CancellationToken cancellationToken = default)
    {
        await using var s = await OpenBlobRangeAsync(repository, digest, offset, offset + destination.Length, cancellationToken).ConfigureAwait(false);
        await s.ReadExactlyAsync(destination, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a whole blob. The stream hashes what it yields; reading its end verifies the digest (and
    /// <paramref name="size"/> when given), and the final read throws a DigestMismatch error instead of completing
    /// when they differ. Interrupted bodies are resumed with Range requests; there is no overall deadline, but no
    /// silence longer than <see cref="RegistryClientOptions.RequestTimeout"/>.
    /// </summary>
    public async Task<Stream> OpenBlobAsync(RepositoryName repository, Digest digest, long? size = null, CancellationToken cancellationToken = default)
    {
        if (size < 0) throw new ArgumentOutOfRangeException(nameof(size));
        return await BlobStream.OpenWholeAsync(_transport, repository, digest, PullHosts(repository.Registry), size, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads a whole (small) blob into memory, verified against <paramref name="descriptor"/>'s digest and size.</summary>
    public Task<byte[]> GetBlobBytesAsync(RepositoryName repository, Descriptor descriptor, CancellationToken cancellationToken = default) =>
        GetBlobBytesAsync(repository, ParseOrThrow(() => descriptor.ParsedDigest, repository, descriptor.Digest), descriptor.Size, cancellationToken);

    /// <summary>Reads a whole blob of at most <see cref="RegistryClientOptions.MaxInMemoryBlobBytes"/> into memory, verified.</summary>
    public async Task<byte[]> GetBlobBytesAsync(RepositoryName repository, Digest digest, long? size, CancellationToken cancellationToken = default)
    {
        if (size > Options.MaxInMemoryBlobBytes)
            throw new ArgumentOutOfRangeException(nameof(size), $"blob {digest} of {size} bytes is larger than MaxInMemoryBlobBytes; use OpenBlobAsync");
        using var scope = new OperationScope(Options.Deadline, cancellationToken);
        var ms = new MemoryStream(size is > 0 ? (int)size.Value : 4096);
        try
        {
            await using var s = await OpenBlobAsync(repository, digest, size, scope.Token).ConfigureAwait(false);
            byte[] buf = new byte[81920];
            int n;
            while ((n = await s.ReadAsync(buf, scope.Token).ConfigureAwait(false)) > 0)
            {
                if (ms.Length + n > Options.MaxInMemoryBlobBytes)
                    throw new RegistryException(RegistryErrorKind.InvalidResponse,
                        $"registry {repository.Registry}, repository {repository.Path}, blob {digest}: larger than MaxInMemoryBlobBytes ({Options.MaxInMemoryBlobBytes})")
                    { Registry = repository.Registry, Repository = repository.Path, Subject = digest.ToString() };
                ms.Write(buf, 0, n);
            }
        }
        catch (OperationCanceledException e) when (scope.Expired)
        {
            throw new RegistryException(RegistryErrorKind.DeadlineExceeded,
                $"registry {repository.Registry}, repository {repository.Path}, blob {digest}: deadline of {Options.Deadline.TotalSeconds:0.###} s exceeded", e)
            { Registry = repository.Registry, Repository = repository.Path, Subject = digest.ToString() };
        }
        return ms.ToArray();
    }

    /// <summary>
    /// Downloads a whole blob to <paramref name="path"/>: written to a temporary file beside it, flushed to disk,
    /// and renamed into place only after the digest matched. Returns the number of bytes.
    /// </summary>
    public async Task<long> DownloadBlobAsync(RepositoryName repository, Digest digest, string path, long? size = null,
        CancellationToken cancellationToken = default)
    {
        string full = Path.GetFullPath(path);
        string tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            long total;
            await using (var src = await OpenBlobAsync(repository, digest, size, cancellationToken).ConfigureAwait(false))
            await using (var dst = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await src.CopyToAsync(dst, 1 << 16, cancellationToken).ConfigureAwait(false);
                dst.Flush(flushToDisk: true);
                total = dst.Length;
            }
            File.Move(tmp, full, overwrite: true);
            return total;
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>The size of a blob (HEAD), or null when the registry does not have it.</summary>
    public async Task<long?> GetBlobSizeAsync(RepositoryName repository, Digest digest, CancellationToken cancellationToken = default)
    {
        using var scope = new OperationScope(Options.Deadline, cancellationToken);
        return await OnHostsAsync(repository.Registry, HostCapabilities.Pull, host => HeadBlobAsync(host, repository, digest, scope)).ConfigureAwait(false);
    }

    private Task<long?> HeadBlobAsync(RegistryHost host, RepositoryName repo, Digest digest, OperationScope scope, bool push = false) =>
        _transport.ExecuteAsync(new RegistryCall
        {
            Kind = RequestKind.BlobHead, Host = host, Registry = repo.Registry, Repository = repo.Path, What = $"blob {digest}",
            Method = HttpMethod.Head, RelativePath = $"{repo.Path}/blobs/{digest}",
            Scopes = [push ? PushScope(repo) : PullScope(repo)],
            PassThrough = s => s == HttpStatusCode.NotFound,
        }, scope, (resp, _) => Task.FromResult(resp.StatusCode == HttpStatusCode.NotFound ? null : resp.Content.Headers.ContentLength ?? (long?)0));

    private IReadOnlyList<RegistryHost> PullHosts(string registry)
    {
        var hosts = Hosts.Resolve(registry).Where(h => h.Can(HostCapabilities.Pull)).ToList();
        if (hosts.Count == 0)
            throw new RegistryException(RegistryErrorKind.Configuration, $"registry {registry}: no configured host has the pull capability (hosts.toml)")
            { Registry = registry };
        return hosts;
    }
}
