using System.Collections.Concurrent;
using Clip.Fuse.Transport;
using Clip.Interop;

namespace Clip.Fuse.Tests.Support;

/// <summary>
/// A FUSE session in memory: the test plays the kernel, queueing raw request bytes and taking the raw
/// reply bytes the server writes. All channels share one request queue, like cloned /dev/fuse descriptors.
/// </summary>
public sealed class MemoryTransport : IFuseTransport
{
    private readonly BlockingCollection<byte[]> _requests = new();
    private readonly BlockingCollection<byte[]> _replies = new();

    public int ChannelsOpened;

    public void Send(byte[] request) => _requests.Add(request);

    /// <summary>The next reply written by the server, in write order.</summary>
    public byte[] NextReply(TimeSpan? timeout = null)
    {
        if (!_replies.TryTake(out var reply, timeout ?? TimeSpan.FromSeconds(10)))
            throw new TimeoutException("the server wrote no reply");
        return reply;
    }

    /// <summary>True if a reply arrives within <paramref name="wait"/> (for asserting that none does).</summary>
    public bool TryNextReply(TimeSpan wait, out byte[] reply) => _replies.TryTake(out reply!, wait);

    /// <summary>Sends a request and returns its reply (single-worker tests).</summary>
    public byte[] Call(byte[] request)
    {
        Send(request);
        return NextReply();
    }

    public IFuseChannel OpenChannel()
    {
        Interlocked.Increment(ref ChannelsOpened);
        return new Channel(this);
    }

    public void Stop() => _requests.CompleteAdding();

    public void Dispose()
    {
    }

    private sealed class Channel(MemoryTransport transport) : IFuseChannel
    {
        public int Receive(Span<byte> buffer)
        {
            try
            {
                var request = transport._requests.Take();
                request.CopyTo(buffer);
                return request.Length;
            }
            catch (InvalidOperationException)
            {
                return 0;
            }
        }

        public Errno Send(ReadOnlySpan<byte> reply)
        {
            transport._replies.Add(reply.ToArray());
            return 0;
        }

        public void Dispose()
        {
        }
    }
}
