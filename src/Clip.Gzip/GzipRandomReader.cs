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
        if (offset.Value >= UncompressedSize || destination.IsEmpty) return 0;
        int wanted = (int)Math.Min(destination.Length, UncompressedSize - offset.Value);
        var span = FindSpan(offset);
        var cp = _checkpoints[span.Value];
        long fetchStart = cp.FetchStart.Value;
        long fetchEnd = Math.Clamp((completeBy ?? SpanCompressedEnd(span)).Value, cp.In.Value + 1, _source.Length);

        var decoder = _decoders.TryTake(out var d) ? d : null;
        byte[] input = ArrayPool<byte>.Shared.Rent((int)Math.Min(fetchEnd - fetchStart, int.MaxValue / 2));
        byte[] skipBuffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int length = (int)(fetchEnd - fetchStart);
            await _source.ReadAsync(fetchStart, input.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            int inputPos = 0;
            byte prime = 0;
            if (cp.Bits > 0)
            {
                prime = input[0];
                inputPos = 1;
            }
            if (decoder is null) decoder = GzipDecoder.At(cp, prime);
            else decoder.RestartAt(cp, prime);

            long toSkip = offset - cp.Out;
            int filled = 0;
            long fetchedEnd = fetchEnd;
            while (filled < wanted)
            {
                bool endOfInput = fetchedEnd == _source.Length;
                Span<byte> output = toSkip > 0
                    ? skipBuffer.AsSpan(0, (int)Math.Min(skipBuffer.Length, toSkip))
                    : destination.Span.Slice(filled, wanted - filled);
                var step = decoder.Decode(input.AsSpan(inputPos, length - inputPos), output, stopAtBoundaries: false, endOfInput);
                inputPos += step.Consumed;
                if (toSkip > 0) toSkip -= step.Produced;
                else filled += step.Produced;
                if (decoder.IsFinished) break;
                if (step.Consumed == 0 && step.Produced == 0 && inputPos < length)
                    throw new InvalidOperationException($"gzip: decoder made no progress at compressed offset {decoder.InputPosition.Value}");
                if (step.Produced == 0 && inputPos == length)
                {
                    if (endOfInput) break;
                    // The hint was short: fetch onwards, at least as much again.
                    long more = Math.Min(Math.Max(MinExtraFetch, fetchedEnd - fetchStart), _source.Length - fetchedEnd);
                    if (more > input.Length)
                    {
                        ArrayPool<byte>.Shared.Return(input);
                        input = ArrayPool<byte>.Shared.Rent((int)more);
                    }
                    length = (int)more;
                    await _source.ReadAsync(fetchedEnd, input.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                    fetchedEnd += more;
                    inputPos = 0;
                }
            }
            if (filled < wanted)
                throw new GzipFormatException($"gzip: stream ended at uncompressed offset {offset.Value + filled}, before the {UncompressedSize} bytes the index records");
            _decoders.Add(decoder);
            decoder = null;
            return filled;
        }
        finally
        {
            decoder?.Dispose();
            ArrayPool<byte>.Shared.Return(input);
            ArrayPool<byte>.Shared.Return(skipBuffer);
        }
    }

    public void Dispose()
    {
        while (_decoders.TryTake(out var d)) d.Dispose();
    }
}
