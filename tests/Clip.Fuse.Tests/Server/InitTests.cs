using Clip.Fuse.Protocol;
using Clip.Fuse.Tests.Support;

namespace Clip.Fuse.Tests.Server;

/// <summary>INIT: version negotiation, capability flags and the layout each minor expects.</summary>
public class InitTests
{
    [Fact]
    public async Task Current_kernel_gets_a_full_init_out_with_the_capabilities_a_read_only_tree_wants()
    {
        await using var h = new Harness(Trees.Small());
        var reply = h.Init();

        Assert.Equal(FuseOutHeader.WireSize + FuseInitOut.WireSize, reply.Bytes.Length);
        var init = reply.As<FuseInitOut>();
        Assert.Equal((7u, 45u), (init.Major, init.Minor));
        var flags = (InitFlags)(((ulong)init.Flags2 << 32) | init.Flags);
        Assert.True(flags.HasFlag(InitFlags.AsyncRead));
        Assert.True(flags.HasFlag(InitFlags.DoReaddirplus));
        Assert.True(flags.HasFlag(InitFlags.MaxPages));
        Assert.True(flags.HasFlag(InitFlags.ParallelDirops));
        Assert.True(flags.HasFlag(InitFlags.CacheSymlinks));
        Assert.True(flags.HasFlag(InitFlags.InitExt));
        Assert.True(flags.HasFlag(InitFlags.NoExportSupport));
        Assert.False(flags.HasFlag(InitFlags.WritebackCache));
        Assert.False(flags.HasFlag(InitFlags.PosixLocks));
        Assert.False(flags.HasFlag(InitFlags.ReaddirplusAuto));
        Assert.Equal((ushort)256, init.MaxPages);                      // 1 MiB reads
        Assert.Equal(128u * 1024, init.MaxReadahead);                  // capped at what the kernel offered
        Assert.Equal((ushort)64, init.MaxBackground);
        Assert.Equal((ushort)48, init.CongestionThreshold);
        Assert.Equal(1u, init.TimeGran);

        var connection = await h.Server.Initialization;
        Assert.Equal(45u, connection.Minor);
        Assert.Equal((ushort)256, connection.MaxPages);
    }

    [Fact]
    public async Task Only_offered_capabilities_are_accepted()
    {
        await using var h = new Harness(Trees.Small());
        var reply = h.Call(Kernel.Init(flags: InitFlags.AsyncRead | InitFlags.WritebackCache));
        var init = reply.As<FuseInitOut>();
        Assert.Equal((uint)InitFlags.AsyncRead, init.Flags);
        Assert.Equal(0u, init.Flags2);
        Assert.Equal((ushort)0, init.MaxPages);                        // no FUSE_MAX_PAGES offered
        Assert.Equal((ushort)32, (await h.Server.Initialization).MaxPages);
    }

    [Theory]
    [InlineData(22u, 24)]   // FUSE_COMPAT_22_INIT_OUT_SIZE
    [InlineData(5u, 24)]
    [InlineData(4u, 8)]     // FUSE_COMPAT_INIT_OUT_SIZE
    [InlineData(23u, 64)]
    [InlineData(36u, 64)]
    public async Task Older_kernels_get_the_init_out_size_of_their_minor(uint minor, int size)
    {
        await using var h = new Harness(Trees.Small());
        var reply = h.Call(Kernel.Init(minor, size: minor < 36 ? FuseKernel.CompatInitInSize : null));
        Assert.Equal(0, reply.Error);
        Assert.Equal(size, reply.Body.Length);
        Assert.Equal(minor, BitConverter.ToUInt32(reply.Body[4..8]));
    }

    [Fact]
    public async Task A_newer_kernel_is_answered_with_our_version_and_asked_again()
    {
        await using var h = new Harness(Trees.Small());
        var first = h.Call(Kernel.Init(major: 8));
        Assert.Equal(0, first.Error);
        Assert.Equal((7u, 45u), (first.As<FuseInitOut>().Major, first.As<FuseInitOut>().Minor));
        Assert.False(h.Server.Initialization.IsCompleted);

        h.Init();
        Assert.True(h.Server.Initialization.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task An_older_major_is_refused_with_EPROTO()
    {
        await using var h = new Harness(Trees.Small());
        var reply = h.Call(Kernel.Init(major: 6));
        Assert.Equal(-71, reply.Error);
        Assert.Single(h.Logger.WithId(1011));
    }

    [Fact]
    public async Task Requests_before_INIT_are_answered_EIO()
    {
        await using var h = new Harness(Trees.Small());
        var reply = h.Call(FuseOpcode.Getattr, 1, Kernel.Bytes(new FuseGetattrIn()));
        Assert.Equal(-5, reply.Error);
    }

    [Fact]
    public async Task More_workers_start_once_INIT_is_answered()
    {
        var h = new Harness(Trees.Small(), new FuseServerOptions { WorkerCount = 4 });
        await using (h)
        {
            Assert.Equal(1, h.Transport.ChannelsOpened);
            h.Init();
            await h.Server.Initialization;
            Assert.Equal(4, h.Transport.ChannelsOpened);
        }
    }
}
