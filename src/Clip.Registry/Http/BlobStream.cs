using System.Net;
using System.Security.Cryptography;
using Clip.Oci;
using Clip.Registry.Hosts;

namespace Clip.Registry.Http;

/// <summary>
/// Bytes <c>[start, end)</c> of a blob, read-only and forward-only, exactly. Handles <c>206</c> with a validated
/// <c>Content-Range</c> (a short 206 is continued with another request), a registry that ignores Range and sends
/// <c>200</c> with the whole blob (skips to the start, stops at the end), <c>416</c>, and a body that breaks
/// mid-way (resumed with a Range request from the current position, with backoff). In whole-blob mode the bytes
/// are hashed as they pass and the final read throws <see cref="RegistryErrorKind.DigestMismatch"/> instead of
/// completing when they do not match: a consumer that reads to the end never accepts wrong bytes.
/// </summary>
internal sealed class BlobStream : Stream
{
    private readonly RegistryTransport _transport;
    private readonly RepositoryName _repo;
    private readonly Digest _digest;
    private readonly IReadOnlyList<RegistryHost> _hosts;
    private readonly bool _whole;
    private readonly long _start;
    private long _end; // exclusive; -1 while unknown (whole blob of unknown size)
    private long _pos;
    private readonly OperationScope _scope;
    private readonly IncrementalHash? _hasher;
    private readonly RequestKind _kind;
    private int _hostIndex;
    private bool _hostFixed;
    private HttpResponseMessage? _resp;
    private Stream? _body;
    private long _bodyRemaining; // bytes this body will still deliver after the skip; -1 unknown
    private long _skip;
    private int _failuresWithoutProgress;
    private int _resumes;
    private bool _verified;
    private bool _disposed;
    private byte[]? _scratch;

    private BlobStream(RegistryTransport transport, RepositoryName repo, Digest digest, IReadOnlyList<RegistryHost> hosts,
        bool whole, long start, long end, OperationScope scope)
    {
        _transport = transport;
        _repo = repo;
        _digest = digest;
        _hosts = hosts;
        _whole = whole;
        _start = start;
        _end = end;
        _pos = start;
        _scope = scope;
        _kind = whole ? RequestKind.Blob : RequestKind.BlobRange;
        _hasher = whole ? digest.CreateHasher() : null;
    }

    /// <summary>Opens bytes [start, end) of the blob; the first request is made here, so "not found" surfaces now.</summary>
    public static async Task<BlobStream> OpenRangeAsync(RegistryTransport t, RepositoryName repo, Digest digest, IReadOnlyList<RegistryHost> hosts,
        long start, long endExclusive, CancellationToken ct)
    {
        // The deadline runs from open to the last byte, independent of the token of any single call.
        var s = new BlobStream(t, repo, digest, hosts, whole: false, start, endExclusive, new OperationScope(t.Options.Deadline, CancellationToken.None));
        try
        {
            if (endExclusive > start) await s.OpenAsync(ct).ConfigureAwait(false);
            return s;
        }
        catch
        {
            await s.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Opens the whole blob (verified at the end); <paramref name="size"/> when known from a descriptor.</summary>
    public static async Task<BlobStream> OpenWholeAsync(RegistryTransport t, RepositoryName repo, Digest digest, IReadOnlyList<RegistryHost> hosts,
        long? size, CancellationToken ct)
    {
        // No overall deadline for a whole blob (it may be gigabytes); RequestTimeout bounds every silence instead.
        var s = new BlobStream(t, repo, digest, hosts, whole: true, 0, size ?? -1, new OperationScope(null, CancellationToken.None));
        try
        {
            if (size != 0) await s.OpenAsync(ct).ConfigureAwait(false);
            return s;
        }
        catch
        {
            await s.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private string What => _whole ? $"blob {_digest}" : $"blob {_digest} bytes [{_start}, {_end})";

    private RegistryCall CallFor(RegistryHost host, long pos) => new()
    {
        Kind = _kind,
        Host = host,
        Registry = _repo.Registry,
        Repository = _repo.Path,
        What = What,
        RelativePath = $"{_repo.Path}/blobs/{_digest}",
        Scopes = [RegistryClient.PullScope(_repo)],
        KeepResponse = true,
        PassThrough = s => s == HttpStatusCode.RequestedRangeNotSatisfiable,
        Configure = req =>
        {
            if (pos > 0 || !_whole) req.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(pos, _end >= 0 ? _end - 1 : null);
        },
    };

    private async Task OpenAsync(CancellationToken ct)
    {
        if (_scope.Expired) throw RegistryTransport.Deadline(CallFor(_hosts[_hostIndex], _pos), _scope, null);
        // What is left of the stream's deadline, with this call's token as the caller's.
        using var scope = new OperationScope(_scope.Limit is null ? null : _scope.Remaining, ct);
        while (true)
        {
            var host = _hosts[_hostIndex];
            try
            {
                long pos = _pos;
                bool ranged = pos > 0 || !_whole;
                await _transport.ExecuteAsync(CallFor(host, pos), scope, (resp, _) =>
                {
                    Accept(resp, host, pos, ranged);
                    return Task.FromResult(true);
                }).ConfigureAwait(false);
                _hostFixed = true;
                return;
            }
            catch (RegistryException e) when (!_hostFixed && _hostIndex < _hosts.Count - 1 && e.Kind is not RegistryErrorKind.DeadlineExceeded)
            {
                Log.HostFailed(_transport.Logger, host.Authority, _repo.Registry, e.Kind.ToString());
                _hostIndex++;
            }
        }
    }

    /// <summary>Checks a response against what was asked and adopts its body.</summary>
    private void Accept(HttpResponseMessage resp, RegistryHost host, long pos, bool ranged)
    {
        var headers = resp.Content.Headers;
        long? length = headers.ContentLength;
        switch (resp.StatusCode)
        {
            case HttpStatusCode.RequestedRangeNotSatisfiable:
            {
                _transport.Metrics.Range("not_satisfiable");
                long? size = headers.ContentRange?.Length;
                resp.Dispose();
                throw Error(RegistryErrorKind.BadRange,
                    $"range starting at {pos} is not satisfiable" + (size is { } s ? $": the blob has {s} bytes" : ""), HttpStatusCode.RequestedRangeNotSatisfiable);
            }
            case HttpStatusCode.PartialContent:
            {
                var cr = headers.ContentRange;
                if (cr is null || cr.Unit != "bytes" || cr.From is not { } from || cr.To is not { } to)
                {
                    resp.Dispose();
                    throw Error(RegistryErrorKind.InvalidResponse, "206 Partial Content without a valid Content-Range", resp.StatusCode);
                }
                if (from != pos || to < from || (_end >= 0 && to >= _end) || (cr.Length is { } total && to >= total))
                {
                    resp.Dispose();
                    throw Error(RegistryErrorKind.BadRange,
                        $"asked for bytes {pos}-{(_end >= 0 ? (_end - 1).ToString() : "")}, got Content-Range {cr}", resp.StatusCode);
                }
                if (cr.Length is { } blobSize && _end > blobSize)
                {
                    resp.Dispose();
                    throw Error(RegistryErrorKind.BadRange, $"range end {_end} is beyond the blob's {blobSize} bytes", resp.StatusCode);
                }
                if (length is { } l && l != to - from + 1)
                {
                    resp.Dispose();
                    throw Error(RegistryErrorKind.InvalidResponse, $"Content-Length {l} disagrees with Content-Range {cr}", resp.StatusCode);
                }
                if (_end < 0 && cr.Length is { } known) _end = known;
                _transport.Metrics.Range("partial");
                _skip = 0;
                _bodyRemaining = to - from + 1;
                break;
            }
            case HttpStatusCode.OK:
            {
                if (ranged)
                {
                    _transport.Metrics.Range("full_body");
                    Log.RangeIgnored(_transport.Logger, host.Authority, pos);
                }
                if (length is { } full)
                {
                    if (_end >= 0 && full < _end)
                    {
                        resp.Dispose();
                        throw Error(_whole ? RegistryErrorKind.DigestMismatch : RegistryErrorKind.BadRange,
                            _whole ? $"registry sent {full} bytes, the descriptor says {_end}" : $"range end {_end} is beyond the blob's {full} bytes",
                            resp.StatusCode);
                    }
                    if (_whole && _end >= 0 && full != _end)
                    {
                        resp.Dispose();
                        throw Error(RegistryErrorKind.DigestMismatch, $"registry sent {full} bytes, the descriptor says {_end}", resp.StatusCode);
                    }
                    if (_end < 0) _end = full;
                }
                _skip = pos;
                _bodyRemaining = _end >= 0 ? _end - pos : -1;
                break;
            }
            default:
                resp.Dispose();
                throw Error(RegistryErrorKind.InvalidResponse, $"unexpected HTTP {(int)resp.StatusCode} to a blob GET", resp.StatusCode);
        }
        _resp = resp;
        // ReadAsStream on an already-received response does not block; the body streams from the socket.
        _body = resp.Content.ReadAsStream();
    }

    private RegistryException Error(RegistryErrorKind kind, string message, HttpStatusCode? status = null) =>
        new(kind, $"registry {_repo.Registry}, repository {_repo.Path}, {What}: {message}")
        { Registry = _repo.Registry, Repository = _repo.Path, Subject = _digest.ToString(), StatusCode = status };

    public override bool CanRead => !_disposed;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => _end >= 0 ? _end - _start : throw new NotSupportedException("blob size not yet known");
    public override long Position
    {
        get => _pos - _start;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.Length == 0) return 0;
        if (_end >= 0 && _pos >= _end)
        {
            Finish();
            return 0;
        }
        while (true)
        {
            try
            {
                if (_body is null) await OpenAsync(cancellationToken).ConfigureAwait(false);
                while (_skip > 0)
                {
                    _scratch ??= new byte[81920];
                    int s = await ReadBodyAsync(_scratch.AsMemory(0, (int)Math.Min(_skip, _scratch.Length)), cancellationToken).ConfigureAwait(false);
                    if (s == 0) throw new IOException($"body ended while skipping to offset {_pos}");
                    _skip -= s;
                    _transport.Metrics.Bytes(_kind, s);
                }
                long want = buffer.Length;
                if (_end >= 0) want = Math.Min(want, _end - _pos);
                if (_bodyRemaining >= 0) want = Math.Min(want, _bodyRemaining);
                if (want == 0)
                {
                    // A short 206 is used up: ask for the rest.
                    CloseBody();
                    continue;
                }
                int n = await ReadBodyAsync(buffer[..(int)want], cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    if (_end < 0 && _bodyRemaining < 0)
                    {
                        _end = _pos;
                        CloseBody();
                        Finish();
                        return 0;
                    }
                    throw new IOException($"body ended at offset {_pos}, before offset {(_bodyRemaining >= 0 ? _pos + _bodyRemaining : _end)}");
                }
                _hasher?.AppendData(buffer.Span[..n]);
                _pos += n;
                if (_bodyRemaining > 0) _bodyRemaining -= n;
                _transport.Metrics.Bytes(_kind, n);
                _failuresWithoutProgress = 0;
                if (_end >= 0 && _pos == _end)
                {
                    CloseBody();
                    Finish();
                }
                return n;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                CloseBody();
                throw;
            }
            catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException && e is not RegistryException)
            {
                CloseBody();
                await BackOffAsync(e, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async ValueTask<int> ReadBodyAsync(Memory<byte> buffer, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct, _scope.Token);
        cts.CancelAfter(_transport.Options.RequestTimeout);
        return await _body!.ReadAsync(buffer, cts.Token).ConfigureAwait(false);
    }

    private async Task BackOffAsync(Exception cause, CancellationToken ct)
    {
        var call = CallFor(_hosts[_hostIndex], _pos);
        if (_scope.Expired) throw RegistryTransport.Deadline(call, _scope, cause);
        _failuresWithoutProgress++;
        _resumes++;
        string reason = cause is OperationCanceledException ? "timed out" : cause.Message;
        if (_failuresWithoutProgress >= _transport.Options.MaxAttempts || _resumes > 1000)
            throw new RegistryException(RegistryErrorKind.TooManyRetries,
                $"{RegistryTransport.Prefix(call)}: gave up at offset {_pos} after {_failuresWithoutProgress} failed attempts without progress: {reason}", cause)
            { Registry = _repo.Registry, Repository = _repo.Path, Subject = _digest.ToString() };
        _transport.Metrics.Retry(_kind, "resume");
        var delay = Backoff.Delay(_failuresWithoutProgress, _transport.Options.RetryBaseDelay, _transport.Options.MaxRetryDelay, null);
        if (_scope.Limit is not null && delay >= _scope.Remaining) throw RegistryTransport.Deadline(call, _scope, cause);
        Log.Resuming(_transport.Logger, _hosts[_hostIndex].Authority, _pos, _digest.ToString(), reason);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _scope.Token);
        try
        {
            await Task.Delay(delay, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw RegistryTransport.Deadline(call, _scope, e);
        }
    }

    /// <summary>At the end of a whole blob: the digest must match, or the last read fails.</summary>
    private void Finish()
    {
        if (_hasher is null || _verified) return;
        byte[] hash = _hasher.GetHashAndReset();
        if (!_digest.Matches(hash))
            throw RegistryClient.DigestMismatch(_repo, $"blob {_digest}", _digest, $"{_digest.Algorithm}:{Convert.ToHexStringLower(hash)}");
        _verified = true;
    }

    private void CloseBody()
    {
        _body?.Dispose();
        _body = null;
        _resp?.Dispose();
        _resp = null;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            CloseBody();
            _hasher?.Dispose();
            _scope.Dispose();
        }
        base.Dispose(disposing);
    }
}
