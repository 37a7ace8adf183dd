using Clip.Fuse.Protocol;
using Clip.Fuse.Transport;

namespace Clip.Fuse.Server;

/// <summary>
/// The buffers and state of one request in progress: owned by a worker while it is handled inline, by the
/// completion while an asynchronous read runs. Buffers are pinned (allocated once, on the pinned object
/// heap) so every read(2)/write(2) of /dev/fuse uses them in place.
/// </summary>
internal sealed class RequestContext
{
    private CancellationTokenSource _cancellation = new();

    public RequestContext(int requestCapacity, int replyBodyCapacity)
    {
        Request = GC.AllocateUninitializedArray<byte>(requestCapacity, pinned: true);
        Reply = GC.AllocateUninitializedArray<byte>(FuseOutHeader.WireSize + replyBodyCapacity, pinned: true);
    }

    /// <summary>The request as read from the channel.</summary>
    public byte[] Request { get; }

    /// <summary>Out header followed by the reply body; a READ is read straight into the body.</summary>
    public byte[] Reply { get; }

    public int RequestLength;
    public IFuseChannel Channel = null!;
    public ulong Unique;
    public uint Opcode;
    public ulong NodeId;

    /// <summary>Room for a reply body.</summary>
    public int ReplyCapacity => Reply.Length - FuseOutHeader.WireSize;

    /// <summary>Fires when the kernel interrupts this request or the server stops.</summary>
    public CancellationToken Cancellation => _cancellation.Token;

    /// <summary>Cancels the request's token (INTERRUPT, shutdown); thread-safe.</summary>
    public void Cancel()
    {
        try
        {
            _cancellation.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Readies the context for the next request, keeping the token source unless it fired.</summary>
    public void Reset()
    {
        Channel = null!;
        Unique = 0;
        if (!_cancellation.TryReset())
        {
            _cancellation.Dispose();
            _cancellation = new CancellationTokenSource();
        }
    }
}

/// <summary>Contexts for requests that go asynchronous; a worker takes a fresh one when its current one leaves with a pending read.</summary>
internal sealed class RequestContextPool(int requestCapacity, int replyBodyCapacity, int retain)
{
    private readonly Stack<RequestContext> _free = new();

    public RequestContext Rent()
    {
        lock (_free)
        {
            if (_free.TryPop(out var ctx)) return ctx;
        }
        return new RequestContext(requestCapacity, replyBodyCapacity);
    }

    public void Return(RequestContext ctx)
    {
        ctx.Reset();
        lock (_free)
        {
            if (_free.Count < retain) _free.Push(ctx);
        }
    }
}
