using System.Buffers;
using System.Security.Cryptography;
using Clip.Gzip;
using Clip.Index.Tar;
using Clip.Oci;

namespace Clip.Index.Build;

/// <summary>How layers are indexed.</summary>
public sealed record LayerIndexOptions
{
    public const long DefaultSpanSize = 4L << 20;
    public const int DefaultChunkSize = 32 << 10;

    /// <summary>Uncompressed bytes between regular checkpoints (<c>--span-size</c>).</summary>
    public long SpanSize { get; init; } = DefaultSpanSize;

    /// <summary>
    /// Compressed bytes between checkpoints, at most (default 1 MiB): a cold small-file read costs the compressed
    /// bytes from its checkpoint to the file's end, so this bounds it. Checkpoints in incompressible stretches
    /// carry no window (it lies in the stream), so the dense spacing costs index bytes only where data compresses.
    /// </summary>
    public long CompressedSpanSize { get; init; } = DefaultCompressedSpanSize;

    public const long DefaultCompressedSpanSize = 1L << 20;

    /// <summary>Compressed bytes per verification chunk: every fetched chunk is checked against its sha256.</summary>
    public int ChunkSize { get; init; } = DefaultChunkSize;

    /// <summary>Files at least this large get a checkpoint just before them (default: a quarter span).</summary>
    public long? LargeFileThreshold { get; init; }
}

/// <summary>A layer clip cannot index for lazy reads (zstd, unknown compression); callers fall back to a full download.</summary>
public sealed class UnsupportedLayerException(string message) : IOException(message);

/// <summary>
/// Indexes one layer blob in a single streaming pass: verifies the blob digest and size, hashes
/// each verification chunk, records gzip checkpoints, parses the tar and builds the layer tree,
/// and computes the diff ID (sha256 of the uncompressed tar).
/// </summary>
public static class LayerIndexer
{
    private const int ReadSize = 1 << 20;

    public static async Task<LayerIndex> IndexAsync(Stream blob, Digest digest, string mediaType, long size, LayerIndexOptions options,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        if (digest.Algorithm != "sha256") throw new UnsupportedLayerException($"layer {digest}: only sha256 layer digests are indexed");
        if (options.SpanSize < 64 * 1024) throw new ArgumentException("span size must be at least 64 KiB", nameof(options));
        if (options.ChunkSize is < 4096 or > 16 << 20) throw new ArgumentException("chunk size must be between 4 KiB and 16 MiB", nameof(options));
        var compression = MediaTypes.CompressionOf(mediaType);
        var buffer = ArrayPool<byte>.Shared.Rent(ReadSize);
        try
        {
            int first = await ReadAtLeastAsync(blob, buffer, Math.Min(ReadSize, 512 + 8), cancellationToken).ConfigureAwait(false);
            if (compression == LayerCompression.Unknown) compression = Sniff(buffer.AsSpan(0, first));
            if (compression == LayerCompression.Zstd)
                throw new UnsupportedLayerException($"layer {digest} is zstd-compressed; clip serves gzip and uncompressed layers lazily, zstd layers are downloaded whole");
            if (compression == LayerCompression.Unknown)
                throw new UnsupportedLayerException($"layer {digest} has media type \"{mediaType}\" and is neither gzip nor tar");

            using var blobHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using var diffHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var chunks = new ChunkDigester(options.ChunkSize, size);
            GzipIndexer? gzip = null;
            var tree = new LayerTreeBuilder(r =>
            {
                if (gzip is not null && r.Size >= (options.LargeFileThreshold ?? options.SpanSize / 4))
                    gzip.RequestCheckpointBefore(r.DataOffset);
            });
            var parser = new TarStreamParser(tree);
            var sink = new HashingSink(parser, diffHash);
            if (compression == LayerCompression.Gzip) gzip = new GzipIndexer(options.SpanSize, sink, compressedSpanSize: options.CompressedSpanSize);
            try
            {
                long total = 0;
                int n = first;
                while (n > 0)
                {
                    var chunk = buffer.AsSpan(0, n);
                    total += n;
                    if (total > size) throw new InvalidDataException($"layer {digest}: blob is longer than the {size} bytes its descriptor declares");
                    // Hash the compressed bytes on the other core while this one inflates and parses them.
                    int length = n;
                    var hashing = Task.Run(() =>
                    {
                        blobHash.AppendData(buffer, 0, length);
                        chunks.Append(buffer.AsSpan(0, length));
                    }, cancellationToken);
                    try
                    {
                        if (gzip is not null) gzip.Push(chunk);
                        else sink.Write(chunk, new CompressedOffset(total));
                    }
                    finally
                    {
                        await hashing.ConfigureAwait(false);
                    }
                    progress?.Report(total);
                    n = await blob.ReadAsync(buffer.AsMemory(0, ReadSize), cancellationToken).ConfigureAwait(false);
                }
                if (total != size) throw new InvalidDataException($"layer {digest}: blob ended after {total} bytes, its descriptor declares {size}");
                var actual = Digest.FromSha256Hash(blobHash.GetHashAndReset());
                if (actual != digest) throw Digest.Mismatch(digest, actual.ToString(), $"layer {digest}");
                gzip?.Finish();
                parser.Finish();

                var diffId = compression == LayerCompression.None ? digest : Digest.FromSha256Hash(diffHash.GetHashAndReset());
                long uncompressed = gzip?.UncompressedSize ?? total;
                var meta = new LayerMetadata(digest, mediaType, compression, total, uncompressed, diffId, options.SpanSize, options.ChunkSize);
                var section = LayerSectionWriter.Write(tree.Root, meta, gzip?.Checkpoints ?? [], chunks.Finish(), tree.Dropped);
                return new LayerIndex(section);
            }
            catch (GzipFormatException e)
            {
                throw new GzipFormatException($"layer {digest}: {e.Message}");
            }
            catch (TarFormatException e)
            {
                throw new TarFormatException($"layer {digest}: {e.Message}");
            }
            finally
            {
                gzip?.Dispose();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Guesses compression from magic bytes when the media type does not say.</summary>
    public static LayerCompression Sniff(ReadOnlySpan<byte> head)
    {
        if (GzipHeader.HasMagic(head)) return LayerCompression.Gzip;
        if (head.Length >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd) return LayerCompression.Zstd;
        if (head.Length >= 263 && head.Slice(257, 5).SequenceEqual("ustar"u8)) return LayerCompression.None;
        return LayerCompression.Unknown;
    }

    private static async Task<int> ReadAtLeastAsync(Stream s, byte[] buffer, int min, CancellationToken ct)
    {
        int total = 0;
        while (total < min)
        {
            int n = await s.ReadAsync(buffer.AsMemory(total, buffer.Length - total), ct).ConfigureAwait(false);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    /// <summary>Feeds the tar parser and hashes the uncompressed stream for the diff ID.</summary>
    private sealed class HashingSink(TarStreamParser parser, IncrementalHash hash) : IInflateSink
    {
        public long NextStop => parser.NextStop;

        public void Write(ReadOnlySpan<byte> data, CompressedOffset consumedThrough)
        {
            hash.AppendData(data);
            parser.Write(data, consumedThrough);
        }
    }
}

/// <summary>sha256 of every fixed-size chunk of a stream, concatenated.</summary>
internal sealed class ChunkDigester(int chunkSize, long expectedSize)
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly MemoryStream _digests = new((int)Math.Min(int.MaxValue, (expectedSize / chunkSize + 1) * 32));
    private int _fill;

    public void Append(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int take = Math.Min(chunkSize - _fill, data.Length);
            _hash.AppendData(data[..take]);
            _fill += take;
            data = data[take..];
            if (_fill == chunkSize)
            {
                _digests.Write(_hash.GetHashAndReset());
                _fill = 0;
            }
        }
    }

    public byte[] Finish()
    {
        if (_fill > 0) _digests.Write(_hash.GetHashAndReset());
        _fill = 0;
        return _digests.ToArray();
    }
}
