using System.Globalization;
using System.Text;

namespace Clip.NetBench.Relay;

/// <summary>The start line and headers of one HTTP/1.1 message.</summary>
public sealed class HttpHead
{
    public required string StartLine { get; init; }
    public required Dictionary<string, string> Headers { get; init; }

    public string? Header(string name) => Headers.GetValueOrDefault(name);

    /// <summary>Request: method and target; response: version and status text.</summary>
    public (string First, string Second) Words
    {
        get
        {
            var parts = StartLine.Split(' ', 3);
            return (parts[0], parts.Length > 1 ? parts[1] : "");
        }
    }

    /// <summary>The status code of a response start line, or 0.</summary>
    public int Status => int.TryParse(Words.Second, NumberStyles.None, CultureInfo.InvariantCulture, out int s) ? s : 0;

    public long? ContentLength => long.TryParse(Header("content-length"), NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : null;

    public bool Chunked => Header("transfer-encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true;
}

/// <summary>How the body after a head is delimited (RFC 9112 §6.3).</summary>
public readonly record struct BodyFraming(BodyKind Kind, long Length = 0)
{
    public static BodyFraming None => new(BodyKind.Fixed, 0);
}

public enum BodyKind
{
    /// <summary>Exactly <see cref="BodyFraming.Length"/> bytes (Content-Length, or 0).</summary>
    Fixed,
    /// <summary>Transfer-Encoding: chunked.</summary>
    Chunked,
    /// <summary>Until the connection closes (a response with neither length nor chunking).</summary>
    UntilClose,
    /// <summary>Not HTTP any more (101 Switching Protocols, or unparseable): count bytes only.</summary>
    Opaque,
}

/// <summary>Receives what a <see cref="HttpStreamMeter"/> recognises.</summary>
public interface IHttpMessageSink
{
    /// <summary>A head is complete (<paramref name="headBytes"/> on the wire); returns how its body is framed.</summary>
    BodyFraming OnHead(HttpHead head, int headBytes);

    /// <summary>Body bytes of the current message (chunk framing included).</summary>
    void OnBody(int bytes);

    /// <summary>The current message is complete.</summary>
    void OnEnd();

    /// <summary>Bytes that belong to no recognised message.</summary>
    void OnOpaque(int bytes);
}

/// <summary>
/// Follows HTTP/1.1 message framing on one direction of a TCP stream without buffering bodies:
/// heads are parsed, bodies only counted. Anything it cannot parse turns it opaque (bytes are
/// still counted, never lost). Enough for registry traffic (no pipelining by Go or .NET clients).
/// </summary>
public sealed class HttpStreamMeter(IHttpMessageSink sink)
{
    private const int MaxHead = 256 * 1024;
    private enum State { Head, Body, ChunkSize, ChunkData, ChunkDataEnd, Trailer, UntilClose, Opaque }

    private State _state = State.Head;
    private readonly List<byte> _head = new(1024);
    private readonly List<byte> _line = new(64);
    private long _remaining;

    public bool IsOpaque => _state == State.Opaque;

    public void Feed(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            switch (_state)
            {
                case State.Head:
                {
                    int used = 0;
                    bool complete = false;
                    while (used < data.Length)
                    {
                        byte b = data[used++];
                        // Tolerate empty lines before a message (RFC 9112 §2.2).
                        if (_head.Count == 0 && b is (byte)'\r' or (byte)'\n')
                        {
                            sink.OnOpaque(1);
                            continue;
                        }
                        _head.Add(b);
                        int n = _head.Count;
                        if (n >= 4 && _head[n - 1] == '\n' && _head[n - 2] == '\r' && _head[n - 3] == '\n' && _head[n - 4] == '\r')
                        {
                            complete = true;
                            break;
                        }
                        if (n > MaxHead) break;
                    }
                    data = data[used..];
                    if (complete) StartBody();
                    else if (_head.Count > MaxHead) GoOpaque(_head.Count);
                    break;
                }
                case State.Body:
                {
                    int n = (int)Math.Min(_remaining, data.Length);
                    sink.OnBody(n);
                    _remaining -= n;
                    data = data[n..];
                    if (_remaining == 0) EndMessage();
                    break;
                }
                case State.ChunkSize or State.ChunkDataEnd or State.Trailer:
                {
                    int nl = data.IndexOf((byte)'\n');
                    int take = nl < 0 ? data.Length : nl + 1;
                    foreach (byte b in data[..take]) _line.Add(b);
                    sink.OnBody(take);
                    data = data[take..];
                    if (_line.Count > 8192) { GoOpaque(0); break; }
                    if (nl >= 0) OnLine();
                    break;
                }
                case State.ChunkData:
                {
                    int n = (int)Math.Min(_remaining, data.Length);
                    sink.OnBody(n);
                    _remaining -= n;
                    data = data[n..];
                    if (_remaining == 0) _state = State.ChunkDataEnd;
                    break;
                }
                case State.UntilClose:
                    sink.OnBody(data.Length);
                    data = default;
                    break;
                case State.Opaque:
                    sink.OnOpaque(data.Length);
                    data = default;
                    break;
            }
        }
    }

    /// <summary>The stream ended: a body delimited by close is complete now.</summary>
    public void Close()
    {
        if (_state == State.UntilClose) EndMessage();
    }

    private void StartBody()
    {
        int headBytes = _head.Count;
        HttpHead? head = TryParse(_head);
        _head.Clear();
        if (head is null)
        {
            GoOpaque(headBytes);
            return;
        }
        var framing = sink.OnHead(head, headBytes);
        switch (framing.Kind)
        {
            case BodyKind.Fixed when framing.Length == 0:
                EndMessage();
                break;
            case BodyKind.Fixed:
                _remaining = framing.Length;
                _state = State.Body;
                break;
            case BodyKind.Chunked:
                _state = State.ChunkSize;
                break;
            case BodyKind.UntilClose:
                _state = State.UntilClose;
                break;
            default:
                GoOpaque(0);
                break;
        }
    }

    private void OnLine()
    {
        string line = Encoding.ASCII.GetString([.. _line]).TrimEnd('\r', '\n');
        _line.Clear();
        switch (_state)
        {
            case State.ChunkSize:
            {
                string hex = line.Split(';', 2)[0].Trim();
                if (!long.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long size) || size < 0)
                {
                    GoOpaque(0);
                    return;
                }
                if (size == 0) _state = State.Trailer;
                else
                {
                    _remaining = size;
                    _state = State.ChunkData;
                }
                break;
            }
            case State.ChunkDataEnd:
                _state = State.ChunkSize;
                break;
            case State.Trailer:
                if (line.Length == 0) EndMessage();
                break;
        }
    }

    private void EndMessage()
    {
        sink.OnEnd();
        _state = State.Head;
    }

    private void GoOpaque(int pendingBytes)
    {
        if (pendingBytes > 0) sink.OnOpaque(pendingBytes);
        _head.Clear();
        _state = State.Opaque;
    }

    private static HttpHead? TryParse(List<byte> raw)
    {
        string text = Encoding.Latin1.GetString([.. raw]);
        var lines = text.Split("\r\n");
        if (lines.Length < 2 || lines[0].Length == 0 || !lines[0].Contains(' ')) return null;
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string l in lines.Skip(1))
        {
            if (l.Length == 0) continue;
            int colon = l.IndexOf(':');
            if (colon <= 0) return null;
            headers[l[..colon].Trim()] = l[(colon + 1)..].Trim();
        }
        return new HttpHead { StartLine = lines[0], Headers = headers };
    }
}
