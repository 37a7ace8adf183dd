using Clip.Fuse.Protocol;
using Clip.Fuse.Server;
using Clip.Fuse.Tests.Support;
using Clip.Interop;
using Clip.Fuse.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Clip.Fuse.Tests.Server;

/// <summary>LOOKUP, GETATTR and a cache-hit READ allocate nothing in the dispatcher, reply included.</summary>
public class AllocationTests
{
    private sealed class DiscardChannel : IFuseChannel
    {
        public int Replies;
        public int LastLength;

        public int Receive(Span<byte> buffer) => 0;

        public Errno Send(ReadOnlySpan<byte> reply)
        {
            Replies++;
            LastLength = reply.Length;
            return 0;
        }

        public void Dispose()
        {
        }
    }

    [Fact]
    public void The_hot_path_does_not_allocate()
    {
        var fs = new TestFileSystem();
        var dir = fs.Root.AddDirectory("usr");
        var file = dir.AddFile("python3", new byte[1 << 20]);
        var options = new FuseServerOptions { WorkerCount = 1 };
        var pool = new RequestContextPool(FuseDispatcher.RequestBufferSize, FuseDispatcher.ReplyBodyCapacity(options), 4);
        var dispatcher = new FuseDispatcher(fs, options, NullLogger.Instance, new FuseServerStatistics(), pool, null, "test");
        var channel = new DiscardChannel();
        var ctx = pool.Rent();

        void Run(byte[] request)
        {
            request.CopyTo(ctx.Request, 0);
            ctx.RequestLength = request.Length;
            ctx.Channel = channel;
            Assert.True(dispatcher.Dispatch(ctx));
            ctx.Reset();
        }

        Run(Kernel.Init());
        var lookup = Kernel.Request(FuseOpcode.Lookup, dir.Id.Value, Kernel.Name("python3"));
        var getattr = Kernel.Request(FuseOpcode.Getattr, file.Id.Value, new FuseGetattrIn());
        var read = Kernel.Request(FuseOpcode.Read, file.Id.Value, new FuseReadIn { Fh = file.Id.Value * 1000, Offset = 4096, Size = 128 * 1024 });
        var missing = Kernel.Request(FuseOpcode.Lookup, dir.Id.Value, Kernel.Name("python2"));

        // Steady state: the runtime allocates once in a while while it tiers methods up (a one-time cost,
        // not per request), so rounds run until three in a row allocate nothing.
        int quiet = 0, rounds = 0;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (quiet < 3 && DateTime.UtcNow < deadline)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 2000; i++)
            {
                Run(lookup);
                Run(getattr);
                Run(read);
                Run(missing);
            }
            quiet = GC.GetAllocatedBytesForCurrentThread() == before ? quiet + 1 : 0;
            rounds++;
        }

        Assert.True(quiet == 3, $"no three allocation-free rounds of 8000 requests in {rounds} rounds");
        Assert.Equal(1 + 8000 * rounds, channel.Replies);
        Assert.Equal(FuseOutHeader.WireSize + FuseEntryOut.WireSize, channel.LastLength);
    }
}
