using System.Buffers.Binary;
using Clip.Interop;

namespace Clip.Gzip;

/// <summary>What one <see cref="GzipDecoder.Decode"/> call did.</summary>
public readonly record struct DecodeStep(int Consumed, int Produced, bool AtBoundary, int BoundaryBits);

/// <summary>
/// Decodes a (possibly multi-member) gzip stream with absolute compressed/uncompressed positions,
/// either from the beginning or resumed at a <see cref="Checkpoint"/>. With block stops on, it
/// returns at every deflate block boundary and at the start of every member, which is where the
/// indexer may place checkpoints. Not thread-safe; reusable through the Restart methods.
/// </summary>
public sealed class GzipDecoder : IDisposable
{
    private enum State { Header, Deflate, Trailer, AfterMember, Padding, Done }

    private readonly ZInflater _z = new();
    private readonly byte[] _window = new byte[WindowCodec.WindowSize];
    private byte[] _pending = new byte[64];
    private int _pendingLength;
    private State _state;
    private long _in, _out;
    private bool _checkCrc;
    private uint _crc, _memberSize;
    private long _lastBoundaryIn = -1, _lastBoundaryOut = -1;

    private GzipDecoder() { }

    /// <summary>A decoder positioned before the first gzip member header.</summary>
    public static GzipDecoder AtBeginning()
    {
        var d = new GzipDecoder();
        d.RestartAtBeginning();
        return d;
    }

    /// <summary>A decoder resumed at <paramref name="checkpoint"/>; see <see cref="RestartWithPreamble"/>.</summary>
    public static GzipDecoder At(in Checkpoint checkpoint, ReadOnlySpan<byte> preamble)
    {
        var d = new GzipDecoder();
        d.RestartWithPreamble(checkpoint, preamble);
        return d;
    }

    /// <summary>Position before the first member header, CRC checking on.</summary>
    public void RestartAtBeginning()
    {
        _z.Reset();
        _state = State.Header;
        _in = _out = 0;
        _pendingLength = 0;
        _checkCrc = true;
        _crc = _memberSize = 0;
        _lastBoundaryIn = _lastBoundaryOut = -1;
        Members = 0;
    }

    /// <summary>
    /// Resume at a checkpoint (zran.c's method) given the bytes fetched before <see cref="Checkpoint.In"/>
    /// (<see cref="Checkpoint.Preamble"/> of them, from <see cref="Checkpoint.FetchStart"/>): prime the inflater
    /// with the unused bits of the byte before <see cref="Checkpoint.In"/> and restore the window — stored in
    /// the index, or, when it lies in the stream, these bytes themselves. The next input must start at
    /// <see cref="Checkpoint.In"/>. The current member's CRC cannot be checked from here; later members' are.
    /// </summary>
    public void RestartWithPreamble(in Checkpoint checkpoint, ReadOnlySpan<byte> preamble)
    {
        if (preamble.Length != checkpoint.Preamble) throw new ArgumentException($"checkpoint needs {checkpoint.Preamble} preamble bytes, got {preamble.Length}");
        if (checkpoint.WindowInStream) RestartAt(checkpoint, 0, preamble);
        else RestartAt(checkpoint, preamble.IsEmpty ? (byte)0 : preamble[0], []);
    }

    private void RestartAt(in Checkpoint checkpoint, byte primeByte, ReadOnlySpan<byte> windowInStream)
    {
        int windowLength = 0;
        if (checkpoint.WindowInStream)
        {
            // windowInStream holds the compressed bytes from FetchStart to In; the window is its stored-block payloads.
            foreach (var (back, length) in WindowCodec.Segments(checkpoint.CompressedWindow))
            {
                windowInStream.Slice(windowInStream.Length - (int)back, length).CopyTo(_window.AsSpan(windowLength));
                windowLength += length;
            }
            if (windowLength != checkpoint.WindowLength) throw new InvalidDataException($"checkpoint at c{checkpoint.In.Value}: in-stream window segments add up to {windowLength}, not {checkpoint.WindowLength}");
        }
        else if (checkpoint.WindowLength > 0)
        {
            // Decode the stored window with this same inflater, then start over for the real stream.
            _z.Reset();
            windowLength = WindowCodec.Decompress(_z, checkpoint.CompressedWindow.Span, _window.AsSpan(0, checkpoint.WindowLength));
        }
        _z.Reset();
        if (checkpoint.Bits > 0) _z.Prime(checkpoint.Bits, primeByte >> (8 - checkpoint.Bits));
        if (windowLength > 0) _z.SetDictionary(_window.AsSpan(0, windowLength));
        _state = State.Deflate;
        _in = checkpoint.In.Value;
        _out = checkpoint.Out.Value;
        _pendingLength = 0;
        _checkCrc = false;
        _crc = _memberSize = 0;
        _lastBoundaryIn = _in;
        _lastBoundaryOut = _out;
    }

    /// <summary>The compressed offset of the next input byte expected.</summary>
    public CompressedOffset InputPosition => new(_in);

    /// <summary>The uncompressed offset of the next output byte.</summary>
    public UncompressedOffset OutputPosition => new(_out);

    /// <summary>True once the last member's trailer (and any zero padding) has been read at end of input.</summary>
    public bool IsFinished => _state == State.Done;

    /// <summary>Members whose trailers have been verified (or skipped, for the member a resume started in).</summary>
    public int Members { get; private set; }

    /// <summary>
    /// Decodes <paramref name="input"/> (which starts at <see cref="InputPosition"/>) into
    /// <paramref name="output"/>. Returns when output is full, input is used up, the stream ends,
    /// or — with <paramref name="stopAtBoundaries"/> — at a block boundary or member start.
    /// <paramref name="endOfInput"/> says no byte follows <paramref name="input"/> in the blob, so a
    /// stream that stops short is truncated. Throws <see cref="GzipFormatException"/> on bad data.
    /// </summary>
    public DecodeStep Decode(ReadOnlySpan<byte> input, Span<byte> output, bool stopAtBoundaries, bool endOfInput)
    {
        int consumed = 0, produced = 0;
        while (true)
        {
            switch (_state)
            {
                case State.Header:
                {
                    int used = ConsumeHeader(input[consumed..], endOfInput);
                    consumed += used;
                    _in += used;
                    if (_state == State.Header) return new DecodeStep(consumed, produced, false, 0);
                    if (stopAtBoundaries && MarkBoundary())
                        return new DecodeStep(consumed, produced, true, 0);
                    break;
                }
                case State.Deflate:
                {
                    if (produced == output.Length && output.Length > 0) return new DecodeStep(consumed, produced, false, 0);
                    var rc = _z.Inflate(input[consumed..], output[produced..], stopAtBoundaries ? ZFlush.Block : ZFlush.NoFlush, out int c, out int p);
                    if (p > 0)
                    {
                        if (_checkCrc) _crc = ZInflater.Crc32(_crc, output.Slice(produced, p));
                        _memberSize += (uint)p;
                    }
                    consumed += c;
                    produced += p;
                    _in += c;
                    _out += p;
                    switch (rc)
                    {
                        case ZResult.StreamEnd:
                            _state = State.Trailer;
                            _pendingLength = 0;
                            continue;
                        case ZResult.Ok:
                        case ZResult.BufError:
                            break;
                        default:
                            throw new GzipFormatException($"gzip: corrupt deflate data near compressed offset {_in}: {_z.LastMessage ?? rc.ToString()}");
                    }
                    int dt = _z.DataType;
                    if (stopAtBoundaries && (dt & 128) != 0 && (dt & 64) == 0 && MarkBoundary())
                        return new DecodeStep(consumed, produced, true, dt & 7);
                    if (c == 0 && p == 0)
                    {
                        // No progress with output room left: zlib needs more input.
                        if (endOfInput && consumed == input.Length)
                            throw new GzipFormatException($"gzip: truncated stream: compressed data ends at offset {_in} inside a deflate block");
                        return new DecodeStep(consumed, produced, false, 0);
                    }
                    break;
                }
                case State.Trailer:
                {
                    int need = GzipHeader.TrailerLength - _pendingLength;
                    int take = Math.Min(need, input.Length - consumed);
                    EnsurePending(_pendingLength + take);
                    input.Slice(consumed, take).CopyTo(_pending.AsSpan(_pendingLength));
                    _pendingLength += take;
                    consumed += take;
                    _in += take;
                    if (_pendingLength < GzipHeader.TrailerLength)
                    {
                        if (endOfInput) throw new GzipFormatException($"gzip: truncated stream: member trailer incomplete at compressed offset {_in}");
                        return new DecodeStep(consumed, produced, false, 0);
                    }
                    uint crc = BinaryPrimitives.ReadUInt32LittleEndian(_pending);
                    uint size = BinaryPrimitives.ReadUInt32LittleEndian(_pending.AsSpan(4));
                    if (_checkCrc && crc != _crc)
                        throw new GzipFormatException($"gzip: CRC-32 mismatch in member {Members + 1} (trailer at compressed offset {_in - 8}): stored {crc:x8}, computed {_crc:x8}");
                    if (_checkCrc && size != _memberSize)
                        throw new GzipFormatException($"gzip: length mismatch in member {Members + 1}: trailer says {size} bytes (mod 2^32), decoded {_memberSize}");
                    Members++;
                    _pendingLength = 0;
                    _state = State.AfterMember;
                    break;
                }
                case State.AfterMember:
                {
                    if (consumed == input.Length)
                    {
                        if (endOfInput) _state = State.Done;
                        return new DecodeStep(consumed, produced, false, 0);
                    }
                    byte b = input[consumed];
                    if (b == 0x1f)
                    {
                        _state = State.Header;
                        _checkCrc = true;
                        _crc = _memberSize = 0;
                    }
                    else if (b == 0) _state = State.Padding;
                    else throw new GzipFormatException($"gzip: trailing garbage after member {Members} at compressed offset {_in}");
                    break;
                }
                case State.Padding:
                {
                    var rest = input[consumed..];
                    int nonZero = rest.IndexOfAnyExcept((byte)0);
                    if (nonZero >= 0) throw new GzipFormatException($"gzip: trailing garbage after member {Members} at compressed offset {_in + nonZero}");
                    consumed += rest.Length;
                    _in += rest.Length;
                    if (endOfInput) _state = State.Done;
                    return new DecodeStep(consumed, produced, false, 0);
                }
                case State.Done:
                    if (consumed < input.Length)
                        throw new GzipFormatException($"gzip: data after the end of the stream at compressed offset {_in}");
                    return new DecodeStep(consumed, produced, false, 0);
            }
        }
    }

    /// <summary>Buffers header bytes until the whole header is there; returns how many input bytes it took.</summary>
    private int ConsumeHeader(ReadOnlySpan<byte> input, bool endOfInput)
    {
        long headerStart = _in - _pendingLength;
        if (_pendingLength == 0 && GzipHeader.TryParse(input, headerStart, out int direct))
        {
            StartMember();
            return direct;
        }
        int before = _pendingLength;
        int take = Math.Min(input.Length, GzipHeader.MaxLength + 16 - _pendingLength);
        EnsurePending(_pendingLength + take);
        input[..take].CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength += take;
        if (GzipHeader.TryParse(_pending.AsSpan(0, _pendingLength), headerStart, out int length))
        {
            _pendingLength = 0;
            StartMember();
            return length - before;
        }
        if (_pendingLength > GzipHeader.MaxLength) throw new GzipFormatException($"gzip: member header at compressed offset {headerStart} is longer than {GzipHeader.MaxLength} bytes");
        if (endOfInput) throw new GzipFormatException($"gzip: truncated stream: member header at compressed offset {headerStart} is incomplete");
        return take;
    }

    private void StartMember()
    {
        _z.Reset();
        _state = State.Deflate;
        _crc = _memberSize = 0;
    }

    private bool MarkBoundary()
    {
        if (_in == _lastBoundaryIn && _out == _lastBoundaryOut) return false;
        _lastBoundaryIn = _in;
        _lastBoundaryOut = _out;
        return true;
    }

    private void EnsurePending(int size)
    {
        if (_pending.Length < size) Array.Resize(ref _pending, Math.Max(size, _pending.Length * 2));
    }

    public void Dispose() => _z.Dispose();
}
