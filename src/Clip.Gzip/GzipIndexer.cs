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
    private readonly long _minForcedGap;
    private readonly byte[] _output;
    private readonly byte[] _ring = new byte[WindowCodec.WindowSize];
    private long _produced;
    private readonly List<Checkpoint> _checkpoints = [];

    // The last block boundary seen: a checkpoint candidate with its window.
    private readonly byte[] _candidateWindow = new byte[WindowCodec.WindowSize];
    private int _candidateWindowLength;
    private long _candidateIn = -1, _candidateOut = -1;
    private int _candidateBits;

    /// <param name="spanSize">Uncompressed bytes between regular checkpoints.</param>
    /// <param name="sink">Receives the uncompressed stream.</param>
    /// <param name="minForcedGap">A checkpoint asked for by the sink is placed only this far past the previous one.</param>
    public GzipIndexer(long spanSize, IInflateSink sink, long? minForcedGap = null, int outputBufferSize = 256 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(spanSize, 64 * 1024);
        _spanSize = spanSize;
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
        long last = _checkpoints.Count == 0 ? long.MinValue / 2 : _checkpoints[^1].Out.Value;
        if (_checkpoints.Count == 0 || _candidateOut - last >= _spanSize) AddCandidateAsCheckpoint();
    }

    private void AddCandidateAsCheckpoint()
    {
        if (_checkpoints.Count > 0 && _checkpoints[^1].Out.Value == _candidateOut) return;
        var window = WindowCodec.Compress(_candidateWindow.AsSpan(0, _candidateWindowLength));
        _checkpoints.Add(new Checkpoint(new CompressedOffset(_candidateIn), _candidateBits, new UncompressedOffset(_candidateOut), window, _candidateWindowLength));
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

    /// <summary>The last min(32 KiB, produced) output bytes, oldest first.</summary>
    private int CopyWindow(Span<byte> destination)
    {
        int size = _ring.Length;
        long produced = _decoder.OutputPosition.Value;
        if (produced < size)
        {
            _ring.AsSpan(0, (int)produced).CopyTo(destination);
            return (int)produced;
        }
        int pos = (int)(produced % size);
        _ring.AsSpan(pos).CopyTo(destination);
        _ring.AsSpan(0, pos).CopyTo(destination[(size - pos)..]);
        return size;
    }

    public void Dispose() => _decoder.Dispose();
}
