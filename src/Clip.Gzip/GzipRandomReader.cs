using System.Buffers;
using System.Collections.Concurrent;

namespace Clip.Gzip;

/// <summary>
/// Random access to the uncompressed bytes of a gzip blob through its checkpoints. A read of
/// [X, X+n) resumes at the last checkpoint at or before X and asks the source for compressed
/// bytes from there to where the wanted bytes are complete — one range when the caller knows
/// that point (the index records it per file), more only if it was too short. Thread-safe.
/// </summary>
public sealed class GzipRandomReader : IDisposable
{
    private const int MinExtraFetch = 256 * 1024;
    private const int MaxFetch = 8 << 20;
    private const int PieceSize = 256 * 1024;
    private readonly IReadOnlyList<Checkpoint> _checkpoints;
    private readonly IRangeSource _source;
    private readonly ConcurrentBag<GzipDecoder> _decoders = [];

    public GzipRandomReader(IReadOnlyList<Checkpoint> checkpoints, long uncompressedSize, IRangeSource source)
    {
        if (checkpoints.Count == 0) throw new ArgumentException("a gzip index has at least one checkpoint", nameof(checkpoints));
        _checkpoints = checkpoints;
        UncompressedSize = uncompressedSize;
        _source = source;
    }

    public long UncompressedSize { get; }

    /// <summary>The span holding <paramref name="offset"/>: the last checkpoint at or before it.</summary>
    public SpanIndex FindSpan(UncompressedOffset offset) => FindSpan(_checkpoints, offset);

    /// <summary>Binary search over checkpoints ordered by <see cref="Checkpoint.Out"/>.</summary>
    public static SpanIndex FindSpan(IReadOnlyList<Checkpoint> checkpoints, UncompressedOffset offset)
    {
        int lo = 0, hi = checkpoints.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >>> 1;
            if (checkpoints[mid].Out <= offset) lo = mid;
            else hi = mid - 1;
        }
        return new SpanIndex(lo);
    }

    /// <summary>The compressed offset where span <paramref name="span"/>'s output is complete (the next checkpoint, or the blob's end).</summary>
    public CompressedOffset SpanCompressedEnd(SpanIndex span) =>
        span.Value + 1 < _checkpoints.Count ? _checkpoints[span.Value + 1].In : new CompressedOffset(_source.Length);

    /// <summary>
    /// Reads uncompressed bytes at <paramref name="offset"/> into <paramref name="destination"/>;
    /// returns the count (short only at the end of the stream). <paramref name="completeBy"/>, when
    /// known, is a compressed offset by which all wanted bytes have been produced.
    /// </summary>
    public async ValueTask<int> ReadAsync(UncompressedOffset offset, Memory<byte> destination, CompressedOffset? completeBy, CancellationToken cancellationToken)
    {
        int filled = 0;
        await CopyRangeAsync(offset, destination.Length, (piece, _) =>
        {
            piece.CopyTo(destination[filled..]);
            filled += piece.Length;
            return ValueTask.CompletedTask;
        }, completeBy, cancellationToken).ConfigureAwait(false);
        return filled;
    }

    /// <summary>
    /// Streams uncompressed [offset, offset + length) — clipped at the end of the stream — to
    /// <paramref name="sink"/> in pieces, resuming once at the right checkpoint and inflating
    /// forward. Compressed bytes are requested up to <paramref name="completeBy"/> (or the span's
    /// end) in one range, then onwards in bounded ranges if more are needed.
    /// </summary>
    public async Task CopyRangeAsync(UncompressedOffset offset, long length, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> sink,
        CompressedOffset? completeBy, CancellationToken cancellationToken)
    {
        if (offset.Value >= UncompressedSize || length <= 0) return;
        long wanted = Math.Min(length, UncompressedSize - offset.Value);
        var span = FindSpan(offset);
        var cp = _checkpoints[span.Value];
        long fetchStart = cp.FetchStart.Value;
        // Fetch up to where the wanted bytes are complete: the caller's bound (a file's end) or the
        // end of the span holding the last wanted byte, whichever comes first.
        long lastSpanEnd = SpanCompressedEnd(FindSpan(offset + (wanted - 1))).Value;
        long fetchEnd = Math.Min(completeBy?.Value ?? long.MaxValue, lastSpanEnd);
        fetchEnd = Math.Clamp(fetchEnd, cp.In.Value + 1, _source.Length);
        fetchEnd = Math.Min(fetchEnd, fetchStart + MaxFetch);

        var decoder = _decoders.TryTake(out var d) ? d : null;
        byte[] input = ArrayPool<byte>.Shared.Rent((int)(fetchEnd - fetchStart));
        byte[] output = ArrayPool<byte>.Shared.Rent((int)Math.Min(PieceSize, Math.Max(wanted, 4096)));
        try
        {
            int length0 = (int)(fetchEnd - fetchStart);
            await _source.ReadAsync(fetchStart, input.AsMemory(0, length0), cancellationToken).ConfigureAwait(false);
            int inputLength = length0, inputPos = cp.Preamble;
            if (decoder is null) decoder = GzipDecoder.At(cp, input.AsSpan(0, cp.Preamble));
            else decoder.RestartWithPreamble(cp, input.AsSpan(0, cp.Preamble));

            long toSkip = offset - cp.Out;
            long delivered = 0;
            long fetchedEnd = fetchEnd;
            while (delivered < wanted)
            {
                bool endOfInput = fetchedEnd == _source.Length;
                int room = (int)Math.Min(output.Length, toSkip > 0 ? toSkip : wanted - delivered);
                var step = decoder.Decode(input.AsSpan(inputPos, inputLength - inputPos), output.AsSpan(0, room), stopAtBoundaries: false, endOfInput);
                inputPos += step.Consumed;
                if (toSkip > 0) toSkip -= step.Produced;
                else if (step.Produced > 0)
                {
                    await sink(output.AsMemory(0, step.Produced), cancellationToken).ConfigureAwait(false);
                    delivered += step.Produced;
                }
                if (decoder.IsFinished) break;
                if (step.Consumed == 0 && step.Produced == 0 && inputPos < inputLength)
                    throw new InvalidOperationException($"gzip: decoder made no progress at compressed offset {decoder.InputPosition.Value}");
                if (step.Produced == 0 && inputPos == inputLength)
                {
                    if (endOfInput) break;
                    // Need more compressed bytes: at least as much again as so far, within bounds.
                    long more = Math.Min(Math.Clamp(fetchedEnd - fetchStart, MinExtraFetch, MaxFetch), _source.Length - fetchedEnd);
                    if (more > input.Length)
                    {
                        ArrayPool<byte>.Shared.Return(input);
                        input = ArrayPool<byte>.Shared.Rent((int)more);
                    }
                    inputLength = (int)more;
                    await _source.ReadAsync(fetchedEnd, input.AsMemory(0, inputLength), cancellationToken).ConfigureAwait(false);
                    fetchedEnd += more;
                    inputPos = 0;
                }
            }
            if (delivered < wanted)
                throw new GzipFormatException($"gzip: stream ended at uncompressed offset {offset.Value + delivered}, before the {UncompressedSize} bytes the index records");
            _decoders.Add(decoder);
            decoder = null;
        }
        finally
        {
            decoder?.Dispose();
            ArrayPool<byte>.Shared.Return(input);
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    public void Dispose()
    {
        while (_decoders.TryTake(out var d)) d.Dispose();
    }
}
