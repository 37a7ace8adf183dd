using Clip.Fuse.Protocol;

namespace Clip.Fuse.Server;

/// <summary>READ: inline when the filesystem completes synchronously, otherwise answered on completion.</summary>
internal sealed partial class FuseDispatcher
{
    private bool Read(RequestContext ctx, NodeId node, ReadOnlySpan<byte> body)
    {
        var read = Wire.Read<FuseReadIn>(body);
        // Never truncate a READ: the kernel takes a short read as end of file. The kernel does not ask
        // for more than max_pages, so this only trips on a session attached with smaller buffers.
        if (read.Size > (uint)ctx.ReplyCapacity)
            throw new InvalidOperationException($"READ of {read.Size} bytes exceeds the {ctx.ReplyCapacity}-byte reply buffer");

        int size = (int)read.Size;
        var buffer = ctx.Reply.AsMemory(FuseOutHeader.WireSize, size);
        var pending = _fs.ReadAsync(node, read.Fh, (long)read.Offset, buffer, ctx.Cancellation);
        if (pending.IsCompletedSuccessfully) return ReplyRead(ctx, pending.Result, size);
        if (pending.IsCompleted)
        {
            int n;
            try
            {
                n = pending.GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                return ReplyError(ctx, ToErrno(ctx, e));
            }
            return ReplyRead(ctx, n, size);
        }

        _statistics.AsynchronousRead();
        _inFlight.Add(ctx);
        _ = CompleteReadAsync(ctx, pending, size);
        return false;
    }

    private bool ReplyRead(RequestContext ctx, int count, int size)
    {
        if ((uint)count > (uint)size) throw new InvalidOperationException($"ReadAsync returned {count} for a {size}-byte buffer");
        _statistics.Read(count);
        return Reply(ctx, count);
    }

    /// <summary>Awaits a read off the worker, replies on the request's channel, and returns the context to the pool. Never throws.</summary>
    private async Task CompleteReadAsync(RequestContext ctx, ValueTask<int> pending, int size)
    {
        try
        {
            int n;
            try
            {
                n = await pending.ConfigureAwait(false);
            }
            catch (Exception e)
            {
                ReplyError(ctx, ToErrno(ctx, e));
                return;
            }
            try
            {
                ReplyRead(ctx, n, size);
            }
            catch (Exception e)
            {
                ReplyError(ctx, ToErrno(ctx, e));
            }
        }
        catch (Exception e)
        {
            // Replying itself failed (a bug): the kernel will see the request aborted when the channel closes.
            Log.RequestFailed(_logger, e, OpcodeTable.Get(ctx.Opcode).Name, ctx.NodeId, ctx.Unique);
        }
        finally
        {
            _inFlight.Remove(ctx);
            _pool.Return(ctx);
        }
    }
}
