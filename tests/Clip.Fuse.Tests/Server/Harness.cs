using Clip.Fuse.Protocol;
using Clip.Fuse.Tests.Support;

namespace Clip.Fuse.Tests.Server;

/// <summary>A server over an in-memory transport: the test is the kernel.</summary>
public sealed class Harness : IAsyncDisposable
{
    public Harness(IFuseFileSystem fs, FuseServerOptions? options = null)
    {
        FileSystem = fs;
        Server = FuseServer.Start(Transport, fs, options ?? new FuseServerOptions { WorkerCount = 1 }, Logger);
    }

    public IFuseFileSystem FileSystem { get; }
    public TestFileSystem Fs => (TestFileSystem)FileSystem;
    public MemoryTransport Transport { get; } = new();
    public ListLogger Logger { get; } = new();
    public FuseServer Server { get; }

    public Reply Call(byte[] request) => new(Transport.Call(request));

    public Reply Init(uint minor = FuseKernel.MinorVersion)
    {
        var reply = Call(Kernel.Init(minor));
        Assert.Equal(0, reply.Error);
        return reply;
    }

    public Reply Call(FuseOpcode op, ulong node, ReadOnlySpan<byte> body = default) => Call(Kernel.Request(op, node, body));

    public Reply Call<T>(FuseOpcode op, ulong node, in T body) where T : unmanaged => Call(Kernel.Request(op, node, body));

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }
}

/// <summary>A small tree most codec tests share.</summary>
public static class Trees
{
    public static readonly byte[] HelloBytes = "hello, fuse\n"u8.ToArray();

    public static TestFileSystem Small()
    {
        var fs = new TestFileSystem();
        var etc = fs.Root.AddDirectory("etc");
        etc.AddFile("hello", HelloBytes, uid: 1000, gid: 100);
        etc.AddSymlink("link", "hello");
        fs.Root.AddFile("slow", new byte[10000], reads: ReadBehavior.Asynchronous);
        fs.Root.AddFile("stuck", new byte[10000], reads: ReadBehavior.BlockUntilCancelled);
        fs.Root.AddFile("buggy", new byte[10], reads: ReadBehavior.Throw);
        fs.Root.AddFile("failing", new byte[10], reads: ReadBehavior.FuseError);
        fs.Root.AddWhiteout("gone");
        fs.Root.AddDirectory("opaque").SetXattr("trusted.overlay.opaque", "y").SetXattr("user.note", "hi");
        return fs;
    }
}
