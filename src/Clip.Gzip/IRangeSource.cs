namespace Clip.Gzip;

/// <summary>
/// Where compressed bytes come from: a local blob file, a registry (Range GETs), a cache. The
/// gzip reader asks for one contiguous range per resume, so a remote source makes one request.
/// </summary>
public interface IRangeSource
{
    /// <summary>The blob's total length in bytes.</summary>
    long Length { get; }

    /// <summary>Fills <paramref name="destination"/> with the bytes at <paramref name="offset"/>; throws if the blob ends first.</summary>
    ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken);
}

/// <summary>A range source over a local file (an OCI layout blob).</summary>
public sealed class FileRangeSource : IRangeSource, IDisposable
{
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _handle;

    public FileRangeSource(string path)
    {
        Path = path;
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        Length = RandomAccess.GetLength(_handle);
    }

    public string Path { get; }
    public long Length { get; }

    /// <summary>Bytes read so far (for <c>--stats</c> and tests that count what a read touched).</summary>
    public long BytesRead => Interlocked.Read(ref _bytesRead);
    private long _bytesRead;

    /// <summary>Range reads so far.</summary>
    public int Reads => _reads;
    private int _reads;

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        int done = 0;
        while (done < destination.Length)
        {
            int n = await RandomAccess.ReadAsync(_handle, destination[done..], offset + done, cancellationToken).ConfigureAwait(false);
            if (n == 0) throw new EndOfStreamException($"{Path}: blob ends at {offset + done}, wanted {destination.Length - done} more bytes");
            done += n;
        }
        Interlocked.Add(ref _bytesRead, done);
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>A range source over bytes in memory (tests, small layers fetched whole).</summary>
public sealed class MemoryRangeSource(ReadOnlyMemory<byte> data) : IRangeSource
{
    public long Length => data.Length;
    public long BytesRead => Interlocked.Read(ref _bytesRead);
    private long _bytesRead;
    public int Reads => _reads;
    private int _reads;

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (offset < 0 || offset + destination.Length > data.Length)
            throw new EndOfStreamException($"range {offset}+{destination.Length} is outside a {data.Length}-byte blob");
        Interlocked.Increment(ref _reads);
        Interlocked.Add(ref _bytesRead, destination.Length);
        data.Slice((int)offset, destination.Length).CopyTo(destination);
        return ValueTask.CompletedTask;
    }
}
