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
    private readonly ChunkMemo _memo;

    public VerifiedRangeSource(IRangeSource inner, LayerIndex index, ContentMetrics? metrics = null, ReadStatistics? stats = null)
    {
        if (inner.Length != index.CompressedSize)
            throw new InvalidDataException($"blob {index.Digest} is {inner.Length} bytes, its index says {index.CompressedSize}");
        _inner = inner;
        _index = index;
        _metrics = metrics;
        _stats = stats;
        _memo = new ChunkMemo(MemoChunks);
    }

    /// <summary>Verified chunks kept in memory per layer (32 × 32 KiB = 1 MiB by default).</summary>
    public const int MemoChunks = 32;

    public long Length => _inner.Length;

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (destination.IsEmpty) return;
        int cs = _index.ChunkSize;
        int first = (int)(offset / cs), last = (int)((offset + destination.Length - 1) / cs);
        // Chunks at either end that a recent fetch already verified are not fetched again:
        // reads of neighbouring files share their boundary chunks.
        int lo = first, hi = last;
        while (lo <= hi && _memo.Contains(lo)) lo++;
        while (hi >= lo && _memo.Contains(hi)) hi--;
        byte[]? fetched = null;
        long fetchStart = (long)lo * cs;
        try
        {
            if (lo <= hi)
            {
                long fetchEnd = Math.Min(Length, (long)(hi + 1) * cs);
                int length = checked((int)(fetchEnd - fetchStart));
                fetched = ArrayPool<byte>.Shared.Rent(length);
                await FetchVerifiedAsync(fetchStart, fetched.AsMemory(0, length), lo, cancellationToken).ConfigureAwait(false);
                // The fetch's end chunks are the ones a neighbouring read would ask for again.
                foreach (int c in lo == hi ? [lo] : new[] { lo, hi })
                    _memo.Add(c, fetched.AsSpan((int)((long)(c - lo) * cs), (int)(Math.Min(Length, (long)(c + 1) * cs) - (long)c * cs)));
            }
            var missing = CopyOut(offset, destination.Span, first, last, lo, hi, fetched, fetchStart);
            foreach (int c in missing)
            {
                // Evicted between the check and the copy (another reader's fetch): this chunk on its own.
                long chunkStart = (long)c * cs;
                var one = new byte[(int)(Math.Min(Length, chunkStart + cs) - chunkStart)];
                await FetchVerifiedAsync(chunkStart, one, c, cancellationToken).ConfigureAwait(false);
                _memo.Add(c, one);
                CopyOut(offset, destination.Span, c, c, c, c, one, chunkStart);
            }
        }
        finally
        {
            if (fetched is not null) ArrayPool<byte>.Shared.Return(fetched);
        }
    }

    /// <summary>Copies chunks [first, last] into the destination: [lo, hi] from <paramref name="fetched"/>, the rest from the memo. Returns chunks the memo no longer had.</summary>
    private List<int> CopyOut(long offset, Span<byte> destination, int first, int last, int lo, int hi, byte[]? fetched, long fetchStart)
    {
        int cs = _index.ChunkSize;
        var missing = new List<int>();
        for (int c = first; c <= last; c++)
        {
            long chunkStart = (long)c * cs;
            long from = Math.Max(offset, chunkStart), to = Math.Min(offset + destination.Length, Math.Min(Length, chunkStart + cs));
            var target = destination.Slice((int)(from - offset), (int)(to - from));
            if (c >= lo && c <= hi) fetched.AsSpan((int)(from - fetchStart), target.Length).CopyTo(target);
            else if (!_memo.TryCopy(c, (int)(from - chunkStart), target)) missing.Add(c);
        }
        return missing;
    }

    /// <summary>Fetches whole chunks starting with <paramref name="firstChunk"/> and verifies each; one retry on a mismatch.</summary>
    private async Task FetchVerifiedAsync(long start, Memory<byte> buffer, int firstChunk, CancellationToken cancellationToken)
    {
        int cs = _index.ChunkSize;
        for (int attempt = 1; ; attempt++)
        {
            await _inner.ReadAsync(start, buffer, cancellationToken).ConfigureAwait(false);
            _metrics?.Fetches.Add(1);
            _metrics?.FetchedBytes.Add(buffer.Length);
            _stats?.Fetched(buffer.Length);
            int bad = FirstBadChunk(buffer.Span, firstChunk);
            if (bad < 0) return;
            _metrics?.VerificationFailures.Add(1);
            _stats?.VerificationFailed();
            if (attempt == 2)
                throw new ContentVerificationException(
                    $"layer {_index.Digest}: chunk {bad} (bytes {(long)bad * cs}-{Math.Min(Length, (long)(bad + 1) * cs) - 1}) failed sha256 verification twice; not using it");
            _metrics?.VerificationRetries.Add(1);
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

/// <summary>A small LRU of verified chunks, by chunk number. Thread-safe.</summary>
internal sealed class ChunkMemo(int capacity)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, (byte[] Data, LinkedListNode<int> Node)> _chunks = [];
    private readonly LinkedList<int> _lru = [];

    public bool Contains(int chunk)
    {
        lock (_lock) return _chunks.ContainsKey(chunk);
    }

    public void Add(int chunk, ReadOnlySpan<byte> data)
    {
        var copy = data.ToArray();
        lock (_lock)
        {
            if (_chunks.TryGetValue(chunk, out var existing))
            {
                _lru.Remove(existing.Node);
                _chunks.Remove(chunk);
            }
            _chunks[chunk] = (copy, _lru.AddFirst(chunk));
            while (_chunks.Count > capacity && _lru.Last is { } oldest)
            {
                _chunks.Remove(oldest.Value);
                _lru.RemoveLast();
            }
        }
    }

    /// <summary>Copies bytes of a chunk from <paramref name="offset"/>; false when it is not held.</summary>
    public bool TryCopy(int chunk, int offset, Span<byte> destination)
    {
        lock (_lock)
        {
            if (!_chunks.TryGetValue(chunk, out var entry)) return false;
            _lru.Remove(entry.Node);
            _lru.AddFirst(entry.Node);
            entry.Data.AsSpan(offset, destination.Length).CopyTo(destination);
            return true;
        }
    }
}
