using Clip.Fuse.Protocol;

namespace Clip.Fuse;

/// <summary>Counters of a <see cref="FuseServer"/>, safe to read at any time (for metrics).</summary>
public sealed class FuseServerStatistics
{
    private readonly long[] _requests = new long[(int)FuseOpcode.CopyFileRange64 + 2];
    private long _errors;
    private long _failures;
    private long _asyncReads;
    private long _bytesRead;

    /// <summary>Requests received with <paramref name="opcode"/>.</summary>
    public long Requests(FuseOpcode opcode) => Interlocked.Read(ref _requests[Slot((uint)opcode)]);

    /// <summary>All requests received.</summary>
    public long TotalRequests
    {
        get
        {
            long sum = 0;
            for (int i = 0; i < _requests.Length; i++) sum += Interlocked.Read(ref _requests[i]);
            return sum;
        }
    }

    /// <summary>Replies that carried an errno (ENOENT from a lookup included).</summary>
    public long ErrorReplies => Interlocked.Read(ref _errors);

    /// <summary>Requests whose handler threw something other than <see cref="FuseException"/> (answered EIO and logged).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Reads that did not complete synchronously.</summary>
    public long AsynchronousReads => Interlocked.Read(ref _asyncReads);

    /// <summary>Bytes returned by READ replies.</summary>
    public long BytesRead => Interlocked.Read(ref _bytesRead);

    internal void Request(uint opcode) => Interlocked.Increment(ref _requests[Slot(opcode)]);
    internal void Error() => Interlocked.Increment(ref _errors);
    internal void Failure() => Interlocked.Increment(ref _failures);
    internal void AsynchronousRead() => Interlocked.Increment(ref _asyncReads);
    internal void Read(int bytes) => Interlocked.Add(ref _bytesRead, bytes);

    // The last slot counts opcodes beyond the table (unknown ones).
    private int Slot(uint opcode) => opcode < (uint)_requests.Length - 1 ? (int)opcode : _requests.Length - 1;
}
