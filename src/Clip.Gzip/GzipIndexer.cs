namespace Clip.Gzip;

/// <summary>Consumes the uncompressed stream as the indexer produces it (the tar parser).</summary>
public interface IInflateSink
{
    /// <summary>The uncompressed offset where the next inflate call must stop (a header or file end), or <see cref="long.MaxValue"/>.</summary>
    long NextStop { get; }

    /// <summary>Takes the next uncompressed bytes; <paramref name="consumedThrough"/> is the compressed offset by which all of them were produced.</summary>
    void Write(ReadOnlySpan<byte> data, CompressedOffset consumedThrough);
}

/// <summary>
/// One streaming pass over a gzip blob that records checkpoints (zran.c): at the first deflate
/// block boundary after every <c>spanSize</c> bytes of output, and — when the sink asks, before a
/// large file — at the last boundary before that file. Output goes to an <see cref="IInflateSink"/>
/// with inflate stopped exactly at the sink's requested offsets, so the sink learns the precise
/// compressed offset at which each file's bytes are complete.
/// </summary>
public sealed class GzipIndexer : IDisposable
{
    private readonly GzipDecoder _decoder = GzipDecoder.AtBeginning();
    private readonly IInflateSink _sink;
    private readonly long _spanSize;
    private readonly long _compressedSpanSize;
    private readonly long _minForcedGap;
    private readonly byte[] _output;
    // The last 128 KiB of output and of compressed input consumed, absolute offset k at k mod 128 KiB:
    // enough for the window and for checking a whole stored block (payload at most 64 KiB) byte for byte.
    private const int RingSize = 128 * 1024;
    private readonly byte[] _ring = new byte[RingSize];
    private readonly byte[] _inputRing = new byte[RingSize];

    /// <summary>A recent deflate block: where it ended, its output length, and whether it is a stored block whose payload was checked.</summary>
    private readonly record struct Block(long InEnd, long OutEnd, long OutLength, bool Stored);
    private readonly Queue<Block> _recentBlocks = new();
    private long _blockStartIn, _blockStartOut;
    private long _produced;
    private readonly List<Checkpoint> _checkpoints = [];

    // The last block boundary seen: a checkpoint candidate with its window.
    private readonly byte[] _candidateWindow = new byte[WindowCodec.WindowSize];
    private int _candidateWindowLength;
    private long _candidateIn = -1, _candidateOut = -1;
    private int _candidateBits;
    private byte[]? _candidateSegments; // the in-stream window's segment table, when the window lies in the stream

    /// <param name="spanSize">Uncompressed bytes between regular checkpoints, at most.</param>
    /// <param name="sink">Receives the uncompressed stream.</param>
    /// <param name="minForcedGap">A checkpoint asked for by the sink is placed only this far past the previous one.</param>
    /// <param name="compressedSpanSize">
    /// Compressed bytes between checkpoints, at most (default: no bound). A cold read costs the compressed
    /// bytes from its checkpoint, so this bounds that cost where data compresses well.
    /// </param>
    public GzipIndexer(long spanSize, IInflateSink sink, long? minForcedGap = null, int outputBufferSize = 256 * 1024, long? compressedSpanSize = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(spanSize, 64 * 1024);
        _spanSize = spanSize;
        _compressedSpanSize = compressedSpanSize ?? long.MaxValue;
        _sink = sink;
        _minForcedGap = minForcedGap ?? spanSize / 16;
        _output = new byte[outputBufferSize];
    }

    /// <summary>Checkpoints in order of offset; the first is at the start of the first member's deflate data.</summary>
    public IReadOnlyList<Checkpoint> Checkpoints => _checkpoints;

    public long UncompressedSize => _produced;
    public long CompressedSize => _decoder.InputPosition.Value;
    public int Members => _decoder.Members;

    /// <summary>Feeds the next compressed bytes of the blob.</summary>
    public void Push(ReadOnlySpan<byte> compressed) => Run(compressed, endOfInput: false);

    /// <summary>Ends the pass: the blob must end exactly after a complete member (zero padding allowed).</summary>
    public void Finish()
    {
        Run([], endOfInput: true);
        if (!_decoder.IsFinished)
            throw new GzipFormatException($"gzip: truncated stream: ended at compressed offset {_decoder.InputPosition.Value} before the end of the last member");
    }

    /// <summary>
    /// Asks for a checkpoint at the last block boundary at or before <paramref name="uncompressedOffset"/>
    /// (the start of a large file), if it is far enough past the previous checkpoint. Called by the sink from <see cref="IInflateSink.Write"/>.
    /// </summary>
    public void RequestCheckpointBefore(long uncompressedOffset)
    {
        if (_candidateOut < 0 || _candidateOut > uncompressedOffset) return;
        long last = _checkpoints.Count == 0 ? long.MinValue : _checkpoints[^1].Out.Value;
        if (_candidateOut - last >= _minForcedGap) AddCandidateAsCheckpoint();
    }

    private void Run(ReadOnlySpan<byte> input, bool endOfInput)
    {
        while (true)
        {
            long stop = _sink.NextStop;
            int room = stop > _produced ? (int)Math.Min(_output.Length, stop - _produced) : _output.Length;
            var step = _decoder.Decode(input, _output.AsSpan(0, room), stopAtBoundaries: true, endOfInput);
            AppendToInputRing(input[..step.Consumed]);
            input = input[step.Consumed..];
            if (step.Produced > 0)
            {
                var data = _output.AsSpan(0, step.Produced);
                AppendToWindow(data);
                _produced += step.Produced;
                _sink.Write(data, _decoder.InputPosition);
            }
            if (step.AtBoundary) OnBoundary(step.BoundaryBits);
            if (step.Consumed == 0 && step.Produced == 0 && !step.AtBoundary) return;
            if (_decoder.IsFinished) return;
        }
    }

    private void OnBoundary(int bits)
    {
        _candidateIn = _decoder.InputPosition.Value;
        _candidateOut = _decoder.OutputPosition.Value;
        _candidateBits = bits;
        _candidateWindowLength = CopyWindow(_candidateWindow);
        RecordBlock(_candidateIn, _candidateOut);
        _candidateSegments = bits == 0 && _candidateWindowLength == WindowCodec.WindowSize ? InStreamSegments() : null;
        if (_checkpoints.Count == 0 || _candidateOut - _checkpoints[^1].Out.Value >= _spanSize || _candidateIn - _checkpoints[^1].In.Value >= _compressedSpanSize)
            AddCandidateAsCheckpoint();
    }

    private void AddCandidateAsCheckpoint()
    {
        if (_checkpoints.Count > 0 && _checkpoints[^1].Out.Value == _candidateOut) return;
        // Where the window is the compressed bytes just before the checkpoint (stored blocks of incompressible
        // data), the index need not carry it: a resume fetches those bytes along with the span.
        var window = _candidateSegments ?? WindowCodec.Compress(_candidateWindow.AsSpan(0, _candidateWindowLength));
        _checkpoints.Add(new Checkpoint(new CompressedOffset(_candidateIn), _candidateBits, new UncompressedOffset(_candidateOut), window, _candidateWindowLength,
            _candidateSegments is not null));
    }

    /// <summary>Keeps the last 32 KiB of output in a ring where absolute offset k lives at k mod 32 KiB.</summary>
    private void AppendToWindow(ReadOnlySpan<byte> data)
    {
        int size = _ring.Length;
        var tail = data.Length > size ? data[^size..] : data;
        int pos = (int)((_produced + data.Length - tail.Length) % size);
        int first = Math.Min(size - pos, tail.Length);
        tail[..first].CopyTo(_ring.AsSpan(pos));
        tail[first..].CopyTo(_ring);
    }

    private void AppendToInputRing(ReadOnlySpan<byte> consumed)
    {
        long end = _decoder.InputPosition.Value; // consumed ends here
        var tail = consumed.Length > RingSize ? consumed[^RingSize..] : consumed;
        int pos = (int)((end - tail.Length) % RingSize);
        int first = Math.Min(RingSize - pos, tail.Length);
        tail[..first].CopyTo(_inputRing.AsSpan(pos));
        tail[first..].CopyTo(_inputRing);
    }

    /// <summary>
    /// Notes the block that just ended and whether it is a stored block: its payload — the output it produced —
    /// must be exactly the compressed bytes that end the block (checked byte for byte, so never assumed).
    /// </summary>
    private void RecordBlock(long inEnd, long outEnd)
    {
        long outLength = outEnd - _blockStartOut, inLength = inEnd - _blockStartIn;
        bool stored = outLength > 0 && outLength <= 65535 && inLength >= outLength + 4 && inLength <= outLength + 6
            && RingEquals(_inputRing, inEnd - outLength, _ring, outEnd - outLength, (int)outLength);
        _recentBlocks.Enqueue(new Block(inEnd, outEnd, outLength, stored));
        while (_recentBlocks.Count > 8) _recentBlocks.Dequeue();
        _blockStartIn = inEnd;
        _blockStartOut = outEnd;
    }

    /// <summary>
    /// When the window (the last 32 KiB of output) is made only of stored-block payloads just before the
    /// current position, the table of those compressed segments (oldest first: distance back from the
    /// checkpoint to the segment's start, and its length, u32 each); otherwise null.
    /// </summary>
    private byte[]? InStreamSegments()
    {
        var blocks = _recentBlocks.ToArray();
        long need = WindowCodec.WindowSize;
        var segments = new List<(long Back, long Length)>();
        for (int i = blocks.Length - 1; i >= 0 && need > 0; i--)
        {
            var b = blocks[i];
            if (b.OutLength == 0) continue; // an empty block contributes nothing and hides nothing
            if (!b.Stored || (i < blocks.Length - 1 && blocks[i + 1].OutLength > 0 && blocks[i + 1].OutEnd - blocks[i + 1].OutLength != b.OutEnd)) return null;
            long take = Math.Min(need, b.OutLength);
            segments.Add((_candidateIn - (b.InEnd - take), take));
            need -= take;
        }
        if (need > 0 || segments.Count > WindowCodec.MaxInStreamSegments) return null;
        segments.Reverse();
        var table = new byte[segments.Count * 8];
        for (int i = 0; i < segments.Count; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(i * 8), (uint)segments[i].Back);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(i * 8 + 4), (uint)segments[i].Length);
        }
        return table;
    }

    private static bool RingEquals(byte[] a, long aStart, byte[] b, long bStart, int length)
    {
        for (int done = 0; done < length;)
        {
            int ai = (int)((aStart + done) % RingSize), bi = (int)((bStart + done) % RingSize);
            int n = Math.Min(length - done, Math.Min(RingSize - ai, RingSize - bi));
            if (!a.AsSpan(ai, n).SequenceEqual(b.AsSpan(bi, n))) return false;
            done += n;
        }
        return true;
    }

    /// <summary>The last min(32 KiB, produced) output bytes, oldest first.</summary>
    private int CopyWindow(Span<byte> destination)
    {
        long produced = _decoder.OutputPosition.Value;
        int length = (int)Math.Min(WindowCodec.WindowSize, produced);
        long start = produced - length;
        for (int done = 0; done < length;)
        {
            int at = (int)((start + done) % RingSize);
            int n = Math.Min(length - done, RingSize - at);
            _ring.AsSpan(at, n).CopyTo(destination[done..]);
            done += n;
        }
        return length;
    }

    public void Dispose() => _decoder.Dispose();
}
