using System.Buffers;
using System.Diagnostics;
using Clip.Gzip;
using Clip.Index;
using Clip.Oci;

namespace Clip.Content;

/// <summary>
/// Lazy, verified, cached reads of one layer's files. The layer is cut into spans (gzip: from one
/// checkpoint to the next; uncompressed: fixed stretches). A read is served from the span cache
/// when it can be; otherwise the span is filled further — one fill per span at a time
/// (single-flight: concurrent readers of a span wait for it and then read the cache) — by
/// resuming from the checkpoint (or from a live inflater left where the last fill stopped) and
/// asking the source for compressed bytes only up to where the wanted bytes are complete.
///
/// Span state transitions (per span, under its gate):
///   empty --fill--> prefix cached [+ live decoder at prefix end] --fill--> longer prefix ... --> whole span cached (decoder released)
///   any --evicted by the cache--> empty/shorter (a live decoder no longer matching the cached length is discarded)
/// </summary>
public sealed class LayerReader : IDisposable
{
    private const int MinEstimatePadding = 64 * 1024;
    private readonly LayerIndex _index;
    private readonly IRangeSource _source;
    private readonly SpanCache _cache;
    private readonly ContentOptions _options;
    private readonly ContentMetrics? _metrics;
    private readonly Slot?[] _slots;
    private readonly LinkedList<int> _liveDecoders = [];
    private readonly Lock _lock = new();
    private readonly bool _gzip;
    private readonly long _virtualSpan;
    private readonly CancellationTokenSource _disposed = new();

    private sealed class Slot
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public GzipDecoder? Decoder;
    }

    // Where the last read of each file ended (by entry): a read starting there is sequential.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, long> _lastReadEnd = new();

    public LayerReader(LayerIndex index, IRangeSource source, SpanCache cache, ContentOptions options, ContentMetrics? metrics = null, ReadStatistics? stats = null)
    {
        if (source.Length != index.CompressedSize)
            throw new InvalidDataException($"blob {index.Digest} is {source.Length} bytes, its index says {index.CompressedSize}");
        _index = index;
        _source = source;
        _cache = cache;
        _options = options;
        _metrics = metrics;
        Statistics = stats ?? new ReadStatistics();
        _gzip = index.Compression == LayerCompression.Gzip;
        _virtualSpan = Math.Max(64 * 1024, index.SpanSize);
        int spans = _gzip ? index.Checkpoints.Count : (int)Math.Max(1, (index.UncompressedSize + _virtualSpan - 1) / _virtualSpan);
        _slots = new Slot?[spans];
    }

    public LayerIndex Index => _index;
    public ReadStatistics Statistics { get; }
    public int SpanCount => _slots.Length;

    /// <summary>
    /// Reads a regular file's content at <paramref name="offset"/>. Returns bytes read: fewer than
    /// asked only at the end of the file. <paramref name="file"/> may be a hardlink (its target is read).
    /// </summary>
    public async ValueTask<int> ReadAsync(Entry file, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var f = file.Target;
        if (f.Type != EntryType.Regular) throw new InvalidOperationException($"{f.Path} is not a regular file");
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        if (offset >= f.Size || destination.IsEmpty) return 0;
        long fileStart = f.DataOffset.Value, fileEnd = fileStart + f.Size;
        long pos = fileStart + offset;
        long end = Math.Min(pos + destination.Length, fileEnd);
        int done = 0;
        bool sequential = _lastReadEnd.TryGetValue(f.Index, out long lastEnd) && lastEnd == pos && pos > fileStart;
        if (_lastReadEnd.Count > 4096) _lastReadEnd.Clear();
        _lastReadEnd[f.Index] = end;
        while (pos < end)
        {
            int s = SpanOf(pos);
            long spanStart = SpanOut(s), spanEnd = SpanOutEnd(s);
            long segEnd = Math.Min(end, spanEnd);
            var key = new SpanKey(_index.Digest, s);
            var slot = SlotOf(s);
            int want = (int)(segEnd - pos);
            var dest = destination.Slice(done, want);
            if (spanStart + _cache.CachedLength(key) >= segEnd && _cache.Read(key, pos - spanStart, dest.Span) == want)
            {
                _metrics?.CacheHits.Add(1);
                Statistics.Hit();
            }
            else
            {
                _metrics?.CacheMisses.Add(1);
                Statistics.Miss();
                long wantEnd, hint;
                if (sequential || fileEnd - pos > _options.ReadAhead && segEnd == spanEnd)
                {
                    wantEnd = spanEnd;
                    hint = SpanInEnd(s);
                }
                else if (fileEnd - fileStart <= _options.ReadAhead || fileEnd <= pos + _options.ReadAhead)
                {
                    wantEnd = Math.Min(fileEnd, spanEnd);
                    hint = wantEnd == fileEnd && f.CompleteBy.Value > 0 ? f.CompleteBy.Value : -1;
                }
                else
                {
                    wantEnd = Math.Min(spanEnd, Math.Max(segEnd, pos + _options.ReadAhead));
                    hint = -1;
                }
                if (wantEnd == spanEnd) hint = SpanInEnd(s);
                await FillAndCopyAsync(s, slot, pos, dest, wantEnd, hint, cancellationToken).ConfigureAwait(false);
            }
            // A sequential reader will want the next span of this file: start fetching it now.
            if (sequential && s + 1 < _slots.Length && fileEnd > spanEnd) PrefetchSpan(s + 1);
            done += want;
            pos = segEnd;
        }
        return done;
    }

    /// <summary>Fills a span (up to its end) in the background; used for sequential read-ahead.</summary>
    private void PrefetchSpan(int s)
    {
        var key = new SpanKey(_index.Digest, s);
        if (_cache.CachedLength(key) >= SpanOutEnd(s) - SpanOut(s)) return;
        var slot = SlotOf(s);
        _ = Task.Run(async () =>
        {
            if (!await slot.Gate.WaitAsync(0).ConfigureAwait(false)) return; // someone is already filling it
            try
            {
                await FillLockedAsync(s, slot, SpanOutEnd(s), SpanOutEnd(s), SpanInEnd(s), _disposed.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_disposed.IsCancellationRequested) { }
            catch (IOException) { } // a prefetch failure is not a read failure; the read path retries for real
            catch (InvalidDataException) { }
            finally
            {
                slot.Gate.Release();
            }
        });
    }

    private async Task FillAndCopyAsync(int s, Slot slot, long pos, Memory<byte> dest, long wantEnd, long hint, CancellationToken ct)
    {
        var key = new SpanKey(_index.Digest, s);
        long spanStart = SpanOut(s);
        long needEnd = pos + dest.Length;
        await slot.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // Another reader may have filled it while we waited.
            if (spanStart + _cache.CachedLength(key) < needEnd || _cache.Read(key, pos - spanStart, dest.Span) != dest.Length)
            {
                var (buffer, bufferStart, length) = await FillLockedAsync(s, slot, needEnd, wantEnd, hint, ct).ConfigureAwait(false);
                try
                {
                    if (pos >= bufferStart && needEnd <= bufferStart + length)
                        buffer.AsSpan((int)(pos - bufferStart), dest.Length).CopyTo(dest.Span);
                    else if (_cache.Read(key, pos - spanStart, dest.Span) != dest.Length)
                        throw new IOException($"layer {_index.Digest}: span {s} could not be cached (evicted while filling); cache too small?");
                }
                finally
                {
                    if (buffer.Length > 0) ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        finally
        {
            slot.Gate.Release();
        }
    }

    /// <summary>
    /// Inflates span <paramref name="s"/> from what is cached to at least <paramref name="needEnd"/>
    /// (aiming for <paramref name="wantEnd"/>), appends it to the cache, and returns the new bytes
    /// (a pooled buffer, absolute start, length). Caller holds the span's gate.
    /// </summary>
    private async Task<(byte[] Buffer, long Start, int Length)> FillLockedAsync(int s, Slot slot, long needEnd, long wantEnd, long hint, CancellationToken ct)
    {
        var key = new SpanKey(_index.Digest, s);
        long spanStart = SpanOut(s), spanEnd = SpanOutEnd(s);
        long cached = _cache.CachedLength(key);
        long have = spanStart + cached;
        wantEnd = Math.Clamp(wantEnd, needEnd, spanEnd);
        if (have >= needEnd) return ([], have, 0);
        int outLength = checked((int)(wantEnd - have));
        byte[] output = ArrayPool<byte>.Shared.Rent(outLength);
        try
        {
            int produced = _gzip
                ? await InflateAsync(s, slot, have, needEnd, wantEnd, hint, output, ct).ConfigureAwait(false)
                : await CopyRawAsync(have, output.AsMemory(0, outLength), ct).ConfigureAwait(false);
            _cache.Extend(key, cached, output.AsSpan(0, produced));
            return (output, have, produced);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(output);
            throw;
        }
    }

    private async Task<int> CopyRawAsync(long from, Memory<byte> output, CancellationToken ct)
    {
        await _source.ReadAsync(from, output, ct).ConfigureAwait(false);
        return output.Length;
    }

    private async Task<int> InflateAsync(int s, Slot slot, long have, long needEnd, long wantEnd, long hint, byte[] output, CancellationToken ct)
    {
        var cp = _index.Checkpoints[s];
        long spanInEnd = SpanInEnd(s);
        var decoder = slot.Decoder;
        bool resume = decoder is not null && decoder.OutputPosition.Value == have;
        long fetchFrom = resume ? decoder!.InputPosition.Value : cp.FetchStart.Value;
        long skip = resume ? 0 : have - cp.Out.Value;
        long fetchEnd = hint > 0 ? Math.Min(hint, spanInEnd) : EstimateCompressedEnd(s, fetchFrom, resume ? have : cp.Out.Value, wantEnd);
        fetchEnd = Math.Clamp(fetchEnd, Math.Min(fetchFrom + 1, spanInEnd), spanInEnd);
        if (fetchEnd <= fetchFrom) fetchEnd = Math.Min(_source.Length, fetchFrom + MinEstimatePadding);

        int outLength = (int)(wantEnd - have);
        int minProduce = (int)(needEnd - have);
        byte[] input = ArrayPool<byte>.Shared.Rent((int)(fetchEnd - fetchFrom));
        byte[]? skipBuffer = skip > 0 ? ArrayPool<byte>.Shared.Rent(64 * 1024) : null;
        var sw = Stopwatch.StartNew();
        long inflated = 0;
        try
        {
            int inputLength = (int)(fetchEnd - fetchFrom);
            await _source.ReadAsync(fetchFrom, input.AsMemory(0, inputLength), ct).ConfigureAwait(false);
            long fetchedEnd = fetchEnd;
            int inputPos = 0;
            if (!resume)
            {
                decoder ??= GzipDecoder.AtBeginning();
                decoder.RestartWithPreamble(cp, input.AsSpan(0, cp.Preamble));
                inputPos = cp.Preamble;
                slot.Decoder = decoder;
            }
            int produced = 0;
            while (produced < outLength)
            {
                bool endOfInput = fetchedEnd == _source.Length;
                var outSpan = skip > 0
                    ? skipBuffer.AsSpan(0, (int)Math.Min(skipBuffer!.Length, skip))
                    : output.AsSpan(produced, outLength - produced);
                var step = decoder!.Decode(input.AsSpan(inputPos, inputLength - inputPos), outSpan, stopAtBoundaries: false, endOfInput);
                inputPos += step.Consumed;
                inflated += step.Produced;
                if (skip > 0) skip -= step.Produced;
                else produced += step.Produced;
                if (decoder.IsFinished) break;
                if (step.Consumed != 0 || step.Produced != 0) continue;
                // No progress with output room left: the inflater needs more input.
                if (inputPos < inputLength) throw new InvalidOperationException($"layer {_index.Digest}: inflater made no progress in span {s}");
                if (skip == 0 && produced >= minProduce) break; // what was needed is here; read-ahead is not worth another request
                if (endOfInput) break;
                long more = Math.Max(MinEstimatePadding, EstimateCompressedEnd(s, fetchedEnd, decoder.OutputPosition.Value, skip > 0 ? have : needEnd) - fetchedEnd);
                more = Math.Min(more, _source.Length - fetchedEnd);
                if (more > input.Length)
                {
                    ArrayPool<byte>.Shared.Return(input);
                    input = ArrayPool<byte>.Shared.Rent((int)more);
                }
                inputLength = (int)more;
                await _source.ReadAsync(fetchedEnd, input.AsMemory(0, inputLength), ct).ConfigureAwait(false);
                fetchedEnd += more;
                inputPos = 0;
            }
            if (produced < minProduce)
                throw new GzipFormatException($"layer {_index.Digest}: span {s} ended at uncompressed offset {have + produced}, before {needEnd} (index and blob disagree)");
            // Keep the inflater if the span is not complete, so the next fill continues from here.
            if (decoder!.OutputPosition.Value == have + produced && have + produced < SpanOutEnd(s))
                KeepDecoder(s, slot);
            else
                ReleaseDecoder(slot);
            return produced;
        }
        catch
        {
            ReleaseDecoder(slot);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(input);
            if (skipBuffer is not null) ArrayPool<byte>.Shared.Return(skipBuffer);
            _metrics?.InflateSeconds.Add(sw.Elapsed.TotalSeconds);
            _metrics?.InflatedBytes.Add(inflated);
        }
    }

    /// <summary>Where the compressed bytes producing [fromOut, toOut) probably end, from the span's compression ratio, with margin.</summary>
    private long EstimateCompressedEnd(int s, long fromIn, long fromOut, long toOut)
    {
        var cp = _index.Checkpoints[s];
        double ratio = (double)(SpanInEnd(s) - cp.In.Value) / Math.Max(1, SpanOutEnd(s) - cp.Out.Value);
        long est = fromIn + (long)((toOut - fromOut) * ratio * 1.25) + MinEstimatePadding;
        return Math.Min(est, SpanInEnd(s));
    }

    /// <summary>Marks a span's decoder live; beyond the per-layer budget the least recently kept one is dropped (if its span is idle).</summary>
    private void KeepDecoder(int s, Slot slot)
    {
        lock (_lock)
        {
            _liveDecoders.Remove(s);
            _liveDecoders.AddFirst(s);
            while (_liveDecoders.Count > Math.Max(1, _options.ResumableDecodersPerLayer))
            {
                int victim = _liveDecoders.Last!.Value;
                _liveDecoders.RemoveLast();
                var vs = _slots[victim];
                if (vs is null || vs == slot) continue;
                if (vs.Gate.Wait(0))
                {
                    try { ReleaseDecoder(vs); }
                    finally { vs.Gate.Release(); }
                }
            }
        }
    }

    private static void ReleaseDecoder(Slot slot)
    {
        slot.Decoder?.Dispose();
        slot.Decoder = null;
    }

    private Slot SlotOf(int s)
    {
        var slot = Volatile.Read(ref _slots[s]);
        if (slot is not null) return slot;
        Interlocked.CompareExchange(ref _slots[s], new Slot(), null);
        return _slots[s]!;
    }

    private int SpanOf(long pos) => _gzip
        ? GzipRandomReader.FindSpan(_index.Checkpoints, new UncompressedOffset(pos)).Value
        : (int)Math.Min(_slots.Length - 1, pos / _virtualSpan);

    private long SpanOut(int s) => _gzip ? _index.Checkpoints[s].Out.Value : s * _virtualSpan;

    private long SpanOutEnd(int s) => _gzip
        ? (s + 1 < _index.Checkpoints.Count ? _index.Checkpoints[s + 1].Out.Value : _index.UncompressedSize)
        : Math.Min(_index.UncompressedSize, (s + 1) * _virtualSpan);

    private long SpanInEnd(int s) => _gzip
        ? (s + 1 < _index.Checkpoints.Count ? _index.Checkpoints[s + 1].In.Value : _index.CompressedSize)
        : SpanOutEnd(s);

    public void Dispose()
    {
        _disposed.Cancel();
        (_source as IDisposable)?.Dispose();
        foreach (var slot in _slots)
        {
            if (slot is null) continue;
            if (slot.Gate.Wait(TimeSpan.FromSeconds(5)))
            {
                ReleaseDecoder(slot);
                slot.Gate.Release();
            }
        }
    }
}
