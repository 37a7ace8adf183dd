using System.Diagnostics;
using Clip.Fuse.Protocol;
using Clip.Fuse.Tests.Support;
using Clip.Interop;
using Clip.Testing;

namespace Clip.Fuse.Tests.Mount;

/// <summary>Unmounting, interrupting and handing a live session over.</summary>
public class LifecycleTests
{
    private static TestFileSystem Tree(out TestFileSystem.Node stuck)
    {
        var fs = new TestFileSystem();
        fs.Root.AddFile("a", "first file\n"u8.ToArray());
        fs.Root.AddFile("b", new byte[3 << 20]);
        stuck = fs.Root.AddFile("stuck", new byte[1 << 20], reads: ReadBehavior.BlockUntilCancelled);
        return fs;
    }

    [RootFact]
    public async Task Unmount_of_an_idle_mount_ends_the_session()
    {
        await using var m = await Mounted.StartAsync(Tree(out _));
        Assert.Equal("first file\n", File.ReadAllText(m["a"]));
        Assert.Equal(UnmountResult.Unmounted, m.Server.Unmount());
        await m.Server.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(MountTable.IsMounted(m.MountPoint));
        Assert.Equal(UnmountResult.NotMounted, m.Server.Unmount());
    }

    [RootFact]
    public async Task Unmount_while_a_file_is_open_detaches_lazily_and_the_server_exits_after_the_last_close()
    {
        await using var m = await Mounted.StartAsync(Tree(out _));
        var held = new FileStream(m["b"], FileMode.Open, FileAccess.Read);
        try
        {
            Assert.Equal(UnmountResult.Detached, m.Server.Unmount());
            Assert.False(MountTable.IsMounted(m.MountPoint));
            Assert.Single(m.Logger.WithId(1006));

            // The open file still works: the session lives until its last user is gone.
            var buffer = new byte[1 << 20];
            held.Position = 2 << 20;
            Assert.Equal(1 << 20, held.ReadAtLeast(buffer, buffer.Length));
            Assert.False(m.Server.Completion.IsCompleted);
        }
        finally
        {
            held.Dispose();
        }
        await m.Server.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Single(m.Logger.WithId(1008));
    }

    [RootFact]
    public async Task Disposing_a_server_whose_mount_is_busy_still_ends_cleanly()
    {
        var m = await Mounted.StartAsync(Tree(out _));
        var held = File.OpenHandle(m["a"]);
        try
        {
            await m.DisposeAsync();
            Assert.True(m.Server.Completion.IsCompleted);
            Assert.False(MountTable.IsMounted(m.MountPoint));
            // The session was aborted when the server closed its descriptors: the open file is dead, not hanging.
            var e = Assert.ThrowsAny<IOException>(() => RandomAccess.Read(held, new byte[10], 0));
            Assert.Equal(107, e.HResult & 0xffff);   // ENOTCONN
        }
        finally
        {
            held.Dispose();
        }
    }

    [RootFact]
    public async Task A_signal_interrupts_a_pending_read_and_cancels_the_filesystem_work()
    {
        var fs = Tree(out _);
        await using var m = await Mounted.StartAsync(fs);
        // O_DIRECT makes the read a foreground request, which the kernel interrupts on a signal
        // (page-cache readahead is background and never interrupted).
        var psi = new ProcessStartInfo("dd", ["if=" + m["stuck"], "of=/dev/null", "bs=4096", "count=1", "iflag=direct"])
        {
            RedirectStandardError = true,
        };
        using var dd = Process.Start(psi)!;
        await fs.ReadBlocked.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, fs.BlockedReads);
        await Proc.RunAsync("kill", "-INT", dd.Id.ToString());
        await dd.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await WaitUntil(() => fs.CancelledReads == 1);
        Assert.Equal(0, fs.BlockedReads);
        Assert.True(m.Server.Statistics.Requests(FuseOpcode.Interrupt) >= 1);
        Assert.Empty(m.Logger.WithId(1003));
        Assert.Equal("first file\n", File.ReadAllText(m["a"]));
    }

    [RootFact]
    public async Task A_live_session_can_be_handed_to_another_server_without_unmounting()
    {
        var first = Tree(out _);
        await using var m = await Mounted.StartAsync(first);
        Assert.Equal("first file\n", File.ReadAllText(m["a"]));

        var session = await m.Server.DetachAsync();
        Assert.True(m.Server.Completion.IsCompleted);
        Assert.True(MountTable.IsMounted(m.MountPoint));
        Assert.Equal(45u, session.Connection.Minor);

        // While nobody serves, a new request waits in the kernel's queue...
        var pending = Task.Factory.StartNew(() => File.ReadAllBytes(m["b"]), TaskCreationOptions.LongRunning);
        await Task.Delay(300);
        Assert.False(pending.IsCompleted);

        // ...and the next server answers it. It serves its own (identical) tree: node ids are stable.
        var second = Tree(out _);
        await using var next = FuseServer.Attach(session, second, logger: m.Logger, ownsDescriptor: true);
        Assert.Equal(3 << 20, (await pending.WaitAsync(TimeSpan.FromSeconds(10))).Length);
        Assert.Equal("first file\n", File.ReadAllText(m["a"]));
        Assert.True(next.Statistics.TotalRequests > 0);

        Assert.Equal(UnmountResult.Unmounted, next.Unmount());
        await next.Completion.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException();
            await Task.Delay(20);
        }
    }
}
