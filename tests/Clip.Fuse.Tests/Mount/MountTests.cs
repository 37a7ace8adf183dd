using System.Security.Cryptography;
using System.Text;
using Clip.Fuse.Protocol;
using Clip.Fuse.Tests.Support;
using Clip.Interop;
using Clip.Testing;

namespace Clip.Fuse.Tests.Mount;

/// <summary>The tree as Linux programs see it through a real mount (needs root and /dev/fuse).</summary>
public class MountTests
{
    private static readonly byte[] Large = RandomNumberGenerator.GetBytes(24 << 20);

    internal static TestFileSystem Tree()
    {
        var fs = new TestFileSystem();
        var etc = fs.Root.AddDirectory("etc");
        var hosts = etc.AddFile("hosts", "127.0.0.1 localhost\n"u8.ToArray(), uid: 0, gid: 0);
        etc.AddFile("shadow", "root:*:\n"u8.ToArray(), mode: 0x180, uid: 0, gid: 42);
        etc.AddHardLink("hosts.hardlink", hosts);
        etc.AddSymlink("localtime", "/usr/share/zoneinfo/UTC");
        var usr = fs.Root.AddDirectory("usr", uid: 1000, gid: 1000);
        usr.AddFile("large.bin", Large, mode: 0x1ED);
        usr.AddFile("empty", []);
        usr.AddDirectory("ünïcødé").AddFile("名前.txt", "utf-8 names\n"u8.ToArray());
        var dev = fs.Root.AddDirectory("dev");
        dev.AddWhiteout("whiteout");
        dev.AddCharacterDevice("tty1", 4, 1, mode: 0x190);
        dev.AddFifo("fifo");
        fs.Root.AddDirectory("opaque").SetXattr("trusted.overlay.opaque", "y").SetXattr("user.comment", "kept");
        return fs;
    }

    [RootFact]
    public async Task Mount_shows_up_as_a_read_only_fuse_clip_filesystem()
    {
        await using var m = await Mounted.StartAsync(Tree(), new FuseMountOptions { Source = "sha256:abc" });
        var entry = MountTable.Find(m.MountPoint)!;
        Assert.Equal("fuse.clip", entry.FsType);
        Assert.Equal("sha256:abc", entry.Source);
        Assert.Contains("ro", entry.Options.Split(','));
        Assert.Contains("nosuid", entry.Options.Split(','));
        Assert.Contains("nodev", entry.Options.Split(','));
        Assert.Contains("allow_other", entry.Options.Split(','));
        Assert.Contains("default_permissions", entry.Options.Split(','));
        Assert.Equal(0x65735546, Libc.FileSystemType(m.MountPoint));   // FUSE_SUPER_MAGIC
        var connection = m.Server.Connection!;
        Assert.Equal(FuseKernel.MinorVersion, connection.Minor);
        Assert.True(connection.KernelMinor >= 38, $"kernel speaks 7.{connection.KernelMinor}");
        Assert.True(connection.Flags.HasFlag(InitFlags.AsyncRead));
        Assert.True(connection.Flags.HasFlag(InitFlags.DoReaddirplus));
        Assert.Equal((ushort)256, connection.MaxPages);

        // Sequential reads may be 1 MiB: the mount's readahead was raised past the kernel's 128 KiB default.
        var st = Libc.LStat(m.MountPoint);
        var bdi = $"/sys/class/bdi/{(st.Dev >> 8) & 0xfff}:{(st.Dev & 0xff) | ((st.Dev >> 12) & ~0xffUL)}/read_ahead_kb";
        Assert.Equal("1024", File.ReadAllText(bdi).Trim());
    }

    [RootFact]
    public async Task Directories_list_through_readdirplus()
    {
        await using var m = await Mounted.StartAsync(Tree());
        var names = Directory.EnumerateFileSystemEntries(m.MountPoint).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(["dev", "etc", "opaque", "usr"], names);
        Assert.Equal(["hosts", "hosts.hardlink", "localtime", "shadow"],
            Directory.EnumerateFileSystemEntries(m["etc"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["名前.txt"], Directory.EnumerateFiles(m["usr/ünïcødé"]).Select(Path.GetFileName));
        Assert.True(m.Server.Statistics.Requests(FuseOpcode.Readdirplus) > 0);
        Assert.Equal(0, m.Server.Statistics.Requests(FuseOpcode.Readdir));
    }

    [RootFact]
    public async Task Files_read_back_exactly()
    {
        await using var m = await Mounted.StartAsync(Tree());
        Assert.Equal("127.0.0.1 localhost\n", File.ReadAllText(m["etc/hosts"]));
        Assert.Equal("utf-8 names\n", File.ReadAllText(m["usr/ünïcødé/名前.txt"]));
        Assert.Empty(File.ReadAllBytes(m["usr/empty"]));
        Assert.Equal(SHA256.HashData(Large), SHA256.HashData(File.ReadAllBytes(m["usr/large.bin"])));

        // Random offsets and lengths, across page and request boundaries, and past the end.
        using var handle = File.OpenHandle(m["usr/large.bin"]);
        var rng = new Random(7);
        var buffer = new byte[3 << 20];
        for (int i = 0; i < 200; i++)
        {
            long offset = rng.NextInt64(Large.Length + 100);
            int length = rng.Next(1, buffer.Length);
            int n = RandomAccess.Read(handle, buffer.AsSpan(0, length), offset);
            int expected = (int)Math.Max(0, Math.Min(length, Large.Length - offset));
            Assert.Equal(expected, n);
            Assert.True(buffer.AsSpan(0, n).SequenceEqual(Large.AsSpan((int)Math.Min(offset, Large.Length), n)), $"bytes at {offset}+{n}");
        }
        Assert.True(m.Server.Statistics.BytesRead >= Large.Length);
    }

    [RootFact]
    public async Task Lstat_reports_types_modes_owners_links_and_times()
    {
        await using var m = await Mounted.StartAsync(Tree());
        var hosts = Libc.LStat(m["etc/hosts"]);
        var link = Libc.LStat(m["etc/hosts.hardlink"]);
        Assert.Equal(hosts.Inode, link.Inode);
        Assert.Equal(2u, hosts.LinkCount);
        Assert.Equal(FileTypes.Regular | 0x1A4, hosts.Mode);
        Assert.Equal(20, hosts.Size);
        Assert.Equal((1_700_000_000L, 500L), (hosts.MTimeSeconds, hosts.MTimeNanoseconds));

        var shadow = Libc.LStat(m["etc/shadow"]);
        Assert.Equal((0x8180u, 0u, 42u), (shadow.Mode, shadow.Uid, shadow.Gid));
        var usr = Libc.LStat(m["usr"]);
        Assert.Equal((FileTypes.Directory | 0x1EDu, 1000u, 1000u, 3u), (usr.Mode, usr.Uid, usr.Gid, usr.LinkCount));

        var symlink = Libc.LStat(m["etc/localtime"]);
        Assert.Equal(FileTypes.Symlink, symlink.Mode & FileTypes.Mask);
        Assert.Equal("/usr/share/zoneinfo/UTC", new FileInfo(m["etc/localtime"]).LinkTarget);
        Assert.Equal("/usr/share/zoneinfo/UTC".Length, symlink.Size);

        var whiteout = Libc.LStat(m["dev/whiteout"]);
        Assert.Equal(FileTypes.CharacterDevice, whiteout.Mode & FileTypes.Mask);
        Assert.Equal((0u, 0u), (whiteout.DevMajor, whiteout.DevMinor));
        var tty = Libc.LStat(m["dev/tty1"]);
        Assert.Equal((FileTypes.CharacterDevice | 0x190u, 4u, 1u), (tty.Mode, tty.DevMajor, tty.DevMinor));
        Assert.Equal(FileTypes.Fifo | 0x1A4u, Libc.LStat(m["dev/fifo"]).Mode);

        Assert.Equal(Large.Length, Libc.LStat(m["usr/large.bin"]).Size);
        Assert.Equal(NodeAttributes.BlocksFor(Large.Length), Libc.LStat(m["usr/large.bin"]).Blocks);

        // A missing name is looked up once: the kernel keeps the negative entry.
        long lookups = m.Server.Statistics.Requests(FuseOpcode.Lookup);
        Assert.Throws<FileNotFoundException>(() => File.ReadAllBytes(m["etc/missing"]));
        Assert.False(File.Exists(m["etc/missing"]));
        Assert.False(File.Exists(m["etc/missing"]));
        Assert.Equal(lookups + 1, m.Server.Statistics.Requests(FuseOpcode.Lookup));
    }

    [RootFact]
    public async Task Extended_attributes_read_and_list_including_trusted_overlay()
    {
        await using var m = await Mounted.StartAsync(Tree());
        Assert.Equal("y", Encoding.UTF8.GetString(Libc.LGetXattr(m["opaque"], "trusted.overlay.opaque")!));
        Assert.Equal("kept", Encoding.UTF8.GetString(Libc.LGetXattr(m["opaque"], "user.comment")!));
        Assert.Null(Libc.LGetXattr(m["opaque"], "user.absent"));
        Assert.Null(Libc.LGetXattr(m["etc/hosts"], "security.selinux"));
        Assert.Equal(["trusted.overlay.opaque", "user.comment"], Libc.LListXattr(m["opaque"]).Order(StringComparer.Ordinal));
        Assert.Empty(Libc.LListXattr(m["etc/hosts"]));
    }

    [RootFact]
    public async Task Statfs_reports_the_filesystem_figures()
    {
        await using var m = await Mounted.StartAsync(Tree());
        var drive = new DriveInfo(m.MountPoint);
        Assert.Equal(1000L * 4096, drive.TotalSize);
        Assert.Equal(0, drive.AvailableFreeSpace);
    }

    [RootFact]
    public async Task Sixty_four_concurrent_readers_of_random_files_get_correct_bytes()
    {
        var fs = new TestFileSystem();
        var rng = new Random(64);
        var files = new List<(string Name, byte[] Data)>();
        var dir = fs.Root.AddDirectory("data");
        for (int i = 0; i < 96; i++)
        {
            var data = new byte[rng.Next(0, 4 << 20)];
            rng.NextBytes(data);
            var name = $"f{i:D3}";
            // Half of the files answer from the thread pool, as a network fetch would.
            dir.AddFile(name, data, reads: i % 2 == 0 ? ReadBehavior.Synchronous : ReadBehavior.Asynchronous);
            files.Add((name, data));
        }
        await using var m = await Mounted.StartAsync(fs, options: new FuseServerOptions { WorkerCount = 4 });

        // Real threads, like 64 processes: blocking reads on pool threads would starve the pool that completes
        // the filesystem's asynchronous reads.
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var readers = Enumerable.Range(0, 64).Select(r => new Thread(() =>
        {
            var local = new Random(r);
            var buffer = new byte[1 << 20];
            for (int k = 0; k < 20; k++)
            {
                var (name, data) = files[local.Next(files.Count)];
                using var handle = File.OpenHandle(Path.Combine(m.MountPoint, "data", name));
                long offset = data.Length == 0 ? 0 : local.NextInt64(data.Length);
                int length = local.Next(1, buffer.Length);
                int n = RandomAccess.Read(handle, buffer.AsSpan(0, length), offset);
                int expected = (int)Math.Min(length, data.Length - offset);
                if (n != expected || !buffer.AsSpan(0, n).SequenceEqual(data.AsSpan((int)offset, n)))
                    errors.Enqueue($"{name} at {offset}+{length}: got {n} bytes, expected {expected}");
            }
        })).ToArray();
        foreach (var t in readers) t.Start();
        foreach (var t in readers) Assert.True(t.Join(TimeSpan.FromMinutes(2)));
        Assert.Empty(errors);
        Assert.True(m.Server.Statistics.AsynchronousReads > 0);
        Assert.Equal(0, m.Server.Statistics.Failures);
    }

    [RootFact]
    public async Task A_failing_read_is_EIO_for_the_caller_and_the_server_goes_on()
    {
        var fs = new TestFileSystem();
        fs.Root.AddFile("buggy", new byte[100], reads: ReadBehavior.Throw);
        fs.Root.AddFile("fine", "ok"u8.ToArray());
        await using var m = await Mounted.StartAsync(fs);
        var e = Assert.ThrowsAny<IOException>(() => File.ReadAllBytes(m["buggy"]));
        Assert.Equal(5, e.HResult & 0xffff);
        // One line per failed request (the kernel retries a failed readahead with a synchronous read).
        Assert.InRange(m.Logger.WithId(1003).Count(), 1, 3);
        Assert.Equal(m.Logger.WithId(1003).Count(), m.Server.Statistics.Failures);
        Assert.Equal("ok", File.ReadAllText(m["fine"]));
    }
}
