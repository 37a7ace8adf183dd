using Clip.Fuse.Protocol;
using Clip.Fuse.Tests.Support;

namespace Clip.Fuse.Tests.Server;

/// <summary>Reads that wait on I/O, are interrupted, or fail: the worker keeps going and every request gets its answer.</summary>
public class ReadPathTests
{
    private static (Harness H, ulong Node, ulong Fh) OpenFile(string name, FuseServerOptions? options = null)
    {
        var h = new Harness(Trees.Small(), options);
        h.Init();
        var node = h.Call(FuseOpcode.Lookup, 1, Kernel.Name(name)).As<FuseEntryOut>().NodeId;
        var fh = h.Call(FuseOpcode.Open, node, new FuseOpenIn()).As<FuseOpenOut>().Fh;
        return (h, node, fh);
    }

    [Fact]
    public async Task An_asynchronous_read_is_answered_on_completion()
    {
        var (h, node, fh) = OpenFile("slow");
        await using (h)
        {
            var reply = h.Call(FuseOpcode.Read, node, new FuseReadIn { Fh = fh, Offset = 100, Size = 5000 });
            Assert.Equal((0, 5000), (reply.Error, reply.Body.Length));
            Assert.Equal(1, h.Server.Statistics.AsynchronousReads);
        }
    }

    [Fact]
    public async Task A_pending_read_does_not_hold_the_worker()
    {
        var (h, node, fh) = OpenFile("stuck");
        await using (h)
        {
            var read = Kernel.Request(FuseOpcode.Read, node, new FuseReadIn { Fh = fh, Size = 4096 });
            h.Transport.Send(read);
            await h.Fs.ReadBlocked.Task.WaitAsync(TimeSpan.FromSeconds(10));

            // The only worker is free: a GETATTR is answered while the read waits.
            var attr = h.Call(FuseOpcode.Getattr, 1, new FuseGetattrIn());
            Assert.Equal(0, attr.Error);
            Assert.Equal(FuseAttrOut.WireSize, attr.Body.Length);

            // INTERRUPT cancels it; it is answered EINTR and INTERRUPT itself gets no reply.
            h.Transport.Send(Kernel.Request(FuseOpcode.Interrupt, 0, new FuseInterruptIn { Unique = Kernel.UniqueOf(read) },
                unique: Kernel.UniqueOf(read) | 1));
            var reply = new Reply(h.Transport.NextReply());
            Assert.Equal(Kernel.UniqueOf(read), reply.Unique);
            Assert.Equal(-4, reply.Error);
            Assert.Equal(1, h.Fs.CancelledReads);
            Assert.False(h.Transport.TryNextReply(TimeSpan.FromMilliseconds(200), out _));
            Assert.Empty(h.Logger.WithId(1003));
        }
    }

    [Fact]
    public async Task An_interrupt_read_before_its_request_is_registered_still_cancels_it()
    {
        var (h, node, fh) = OpenFile("stuck", new FuseServerOptions { WorkerCount = 1 });
        await using (h)
        {
            var read = Kernel.Request(FuseOpcode.Read, node, new FuseReadIn { Fh = fh, Size = 4096 });
            // The kernel may queue the INTERRUPT so that another worker reads it first.
            h.Transport.Send(Kernel.Request(FuseOpcode.Interrupt, 0, new FuseInterruptIn { Unique = Kernel.UniqueOf(read) }));
            h.Transport.Send(read);
            var reply = new Reply(h.Transport.NextReply());
            Assert.Equal((Kernel.UniqueOf(read), -4), (reply.Unique, reply.Error));
        }
    }

    [Fact]
    public async Task A_filesystem_exception_becomes_EIO_with_one_log_line_and_the_server_goes_on()
    {
        var (h, node, fh) = OpenFile("buggy");
        await using (h)
        {
            var reply = h.Call(FuseOpcode.Read, node, new FuseReadIn { Fh = fh, Size = 10 });
            Assert.Equal(-5, reply.Error);
            var line = Assert.Single(h.Logger.WithId(1003));
            Assert.Contains("READ", line.Message);
            Assert.IsType<InvalidOperationException>(line.Exception);
            Assert.Equal(1, h.Server.Statistics.Failures);

            Assert.Equal(0, h.Call(FuseOpcode.Getattr, 1, new FuseGetattrIn()).Error);
        }
    }

    [Fact]
    public async Task A_FuseException_answers_its_errno_without_logging()
    {
        var (h, node, fh) = OpenFile("failing");
        await using (h)
        {
            Assert.Equal(-5, h.Call(FuseOpcode.Read, node, new FuseReadIn { Fh = fh, Size = 10 }).Error);
            Assert.Empty(h.Logger.WithId(1003));
        }
    }

    [Fact]
    public async Task Exceptions_from_any_handler_are_answered()
    {
        await using var h = new Harness(new ThrowingFileSystem());
        h.Init();
        Assert.Equal(-5, h.Call(FuseOpcode.Lookup, 1, Kernel.Name("x")).Error);
        Assert.Equal(-5, h.Call(FuseOpcode.Getattr, 1, new FuseGetattrIn()).Error);
        Assert.Equal(-5, h.Call(FuseOpcode.Readdirplus, 1, new FuseReadIn { Size = 4096 }).Error);
        Assert.Equal(-5, h.Call(FuseOpcode.Read, 1, new FuseReadIn { Size = 4096 }).Error);
        h.Transport.Send(Kernel.Request(FuseOpcode.Forget, 1, new FuseForgetIn { Nlookup = 1 }));
        // Statfs falls back to the interface default: the server is still answering.
        Assert.Equal(0, h.Call(FuseOpcode.Statfs, 1).Error);
        Assert.Equal(5, h.Logger.WithId(1003).Count());
    }

    [Fact]
    public async Task Many_asynchronous_reads_in_flight_are_all_answered_once()
    {
        var (h, node, fh) = OpenFile("slow", new FuseServerOptions { WorkerCount = 3 });
        await using (h)
        {
            var uniques = new HashSet<ulong>();
            for (int i = 0; i < 200; i++)
            {
                var request = Kernel.Request(FuseOpcode.Read, node, new FuseReadIn { Fh = fh, Offset = (ulong)i, Size = 100 });
                uniques.Add(Kernel.UniqueOf(request));
                h.Transport.Send(request);
            }
            for (int i = 0; i < 200; i++)
            {
                var reply = new Reply(h.Transport.NextReply());
                Assert.Equal((0, 100), (reply.Error, reply.Body.Length));
                Assert.True(uniques.Remove(reply.Unique));
            }
        }
    }

    [Fact]
    public async Task Stopping_cancels_reads_that_never_finish_after_the_drain_timeout()
    {
        var (h, node, fh) = OpenFile("stuck", new FuseServerOptions { WorkerCount = 1, DrainTimeout = TimeSpan.FromMilliseconds(200) });
        h.Transport.Send(Kernel.Request(FuseOpcode.Read, node, new FuseReadIn { Fh = fh, Size = 4096 }));
        await h.Fs.ReadBlocked.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await h.Server.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, h.Fs.CancelledReads);
        Assert.Single(h.Logger.WithId(1012));
    }

    private sealed class ThrowingFileSystem : IFuseFileSystem
    {
        public Clip.Interop.Errno Lookup(NodeId parent, ReadOnlySpan<byte> name, out NodeEntry entry) => throw new NullReferenceException();
        public Clip.Interop.Errno GetAttributes(NodeId node, out NodeAttributes attributes) => throw new NullReferenceException();
        public Clip.Interop.Errno ReadLink(NodeId node, Span<byte> destination, out int length) => throw new NullReferenceException();
        public Clip.Interop.Errno Open(NodeId node, int flags, out ulong handle) => throw new NullReferenceException();
        public ValueTask<int> ReadAsync(NodeId node, ulong handle, long offset, Memory<byte> buffer, CancellationToken cancellationToken) => throw new NullReferenceException();
        public Clip.Interop.Errno ReadDirectory(NodeId node, ulong handle, ulong offset, ref DirectoryWriter writer) => throw new NullReferenceException();
        public Clip.Interop.Errno GetExtendedAttribute(NodeId node, ReadOnlySpan<byte> name, Span<byte> destination, out int length) => throw new NullReferenceException();
        public Clip.Interop.Errno ListExtendedAttributes(NodeId node, Span<byte> destination, out int length) => throw new NullReferenceException();
        public void Forget(NodeId node, ulong lookups) => throw new NullReferenceException();
    }
}
