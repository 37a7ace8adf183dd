using System.Buffers;
using System.Security.Cryptography;
using Clip.Gzip;
using Clip.Index;

namespace Clip.Content;

/// <summary>Fetched bytes did not match the index's chunk digest, twice: they were not used.</summary>
public sealed class ContentVerificationException(string message) : IOException(message);

/// <summary>
/// Checks every fetched byte before use: a read is widened to whole verification chunks (the
/// index holds a sha256 per chunk of the compressed blob), fetched in one request, and each chunk
/// hashed. A mismatch is fetched once more; a second mismatch is an error — wrong bytes are
/// never returned.
/// </summary>
public sealed class VerifiedRangeSource : IRangeSource
{
    private readonly IRangeSource _inner;
    private readonly LayerIndex _index;
    private readonly ContentMetrics? _metrics;
    private readonly ReadStatistics? _stats;

    public VerifiedRangeSource(IRangeSource inner, LayerIndex index, ContentMetrics? metrics = null, ReadStatistics? stats = null)
    {
        if (inner.Length != index.CompressedSize)
            throw new InvalidDataException($"blob {index.Digest} is {inner.Length} bytes, its index says {index.CompressedSize}");
        _inner = inner;
        _index = index;
        _metrics = metrics;
        _stats = stats;
    }

    public long Length => _inner.Length;

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (destination.IsEmpty) return;
        int cs = _index.ChunkSize;
        long start = offset / cs * cs;
        long end = Math.Min(Length, (offset + destination.Length + cs - 1) / cs * cs);
        int length = checked((int)(end - start));
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                await _inner.ReadAsync(start, buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                _metrics?.Fetches.Add(1);
                _metrics?.FetchedBytes.Add(length);
                _stats?.Fetched(length);
                int bad = FirstBadChunk(buffer.AsSpan(0, length), (int)(start / cs));
                if (bad < 0) break;
                _metrics?.VerificationFailures.Add(1);
                _stats?.VerificationFailed();
                if (attempt == 2)
                    throw new ContentVerificationException(
                        $"layer {_index.Digest}: chunk {bad} (bytes {(long)bad * cs}-{Math.Min(Length, (long)(bad + 1) * cs) - 1}) failed sha256 verification twice; not using it");
                _metrics?.VerificationRetries.Add(1);
            }
            buffer.AsSpan((int)(offset - start), destination.Length).CopyTo(destination.Span);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private int FirstBadChunk(ReadOnlySpan<byte> data, int firstChunk)
    {
        Span<byte> hash = stackalloc byte[32];
        int cs = _index.ChunkSize;
        for (int i = 0; i * cs < data.Length; i++)
        {
            var chunk = data.Slice(i * cs, Math.Min(cs, data.Length - i * cs));
            SHA256.HashData(chunk, hash);
            if (!hash.SequenceEqual(_index.ChunkDigest(firstChunk + i))) return firstChunk + i;
        }
        return -1;
    }
}
