using System.Text;
using Clip.Fuse.Protocol;
using Clip.Fuse.Tests.Support;

namespace Clip.Fuse.Tests.Server;

/// <summary>The read-only subset, request bytes in, reply bytes out.</summary>
public class RequestTests
{
    private static readonly FuseServerOptions Options = new()
    {
        WorkerCount = 1,
        EntryTimeout = TimeSpan.FromSeconds(90.5),
        AttributeTimeout = TimeSpan.FromSeconds(30),
        NegativeEntryTimeout = TimeSpan.FromSeconds(10),
    };

    private static Harness Start(TestFileSystem? fs = null, FuseServerOptions? options = null, uint minor = FuseKernel.MinorVersion)
    {
        var h = new Harness(fs ?? Trees.Small(), options ?? Options);
        h.Init(minor);
        return h;
    }

    private static ulong Lookup(Harness h, ulong parent, string name)
    {
        var reply = h.Call(FuseOpcode.Lookup, parent, Kernel.Name(name));
        Assert.Equal(0, reply.Error);
        return reply.As<FuseEntryOut>().NodeId;
    }

    private static ulong Open(Harness h, ulong node)
    {
        var reply = h.Call(FuseOpcode.Open, node, new FuseOpenIn { Flags = 0 });
        Assert.Equal(0, reply.Error);
        return reply.As<FuseOpenOut>().Fh;
    }

    [Fact]
    public async Task Lookup_answers_the_entry_with_attributes_and_cache_timeouts()
    {
        await using var h = Start();
        var etc = Lookup(h, 1, "etc");
        var reply = h.Call(FuseOpcode.Lookup, etc, Kernel.Name("hello"));

        Assert.Equal(0, reply.Error);
        Assert.Equal(FuseEntryOut.WireSize, reply.Body.Length);
        var e = reply.As<FuseEntryOut>();
        Assert.Equal(etc + 1, e.NodeId);
        Assert.Equal((90ul, 500_000_000u), (e.EntryValid, e.EntryValidNsec));
        Assert.Equal((30ul, 0u), (e.AttrValid, e.AttrValidNsec));
        Assert.Equal(e.NodeId, e.Attr.Ino);
        Assert.Equal(FileTypes.Regular | 0x1A4, e.Attr.Mode);
        Assert.Equal((ulong)Trees.HelloBytes.Length, e.Attr.Size);
        Assert.Equal((1000u, 100u, 1u), (e.Attr.Uid, e.Attr.Gid, e.Attr.Nlink));
        Assert.Equal((1_700_000_000ul, 500u), (e.Attr.Mtime, e.Attr.MtimeNsec));
        Assert.Equal(4096u, e.Attr.Blksize);
    }

    [Fact]
    public async Task A_missing_name_is_a_cacheable_negative_entry()
    {
        await using var h = Start();
        var reply = h.Call(FuseOpcode.Lookup, 1, Kernel.Name("nope"));
        Assert.Equal(0, reply.Error);
        var e = reply.As<FuseEntryOut>();
        Assert.Equal(0ul, e.NodeId);
        Assert.Equal(10ul, e.EntryValid);
    }

    [Fact]
    public async Task Without_a_negative_timeout_a_missing_name_is_ENOENT()
    {
        await using var h = Start(options: Options with { NegativeEntryTimeout = TimeSpan.Zero });
        Assert.Equal(-2, h.Call(FuseOpcode.Lookup, 1, Kernel.Name("nope")).Error);
        // Other errors are never turned into negative entries.
        var hello = Lookup(h, Lookup(h, 1, "etc"), "hello");
        Assert.Equal(-20, h.Call(FuseOpcode.Lookup, hello, Kernel.Name("x")).Error);
    }

    [Fact]
    public async Task Getattr_answers_attr_out_and_a_whiteout_is_char_0_0()
    {
        await using var h = Start();
        var gone = Lookup(h, 1, "gone");
        var reply = h.Call(FuseOpcode.Getattr, gone, new FuseGetattrIn());
        Assert.Equal(FuseAttrOut.WireSize, reply.Body.Length);
        var a = reply.As<FuseAttrOut>();
        Assert.Equal(30ul, a.AttrValid);
        Assert.Equal(FileTypes.CharacterDevice, a.Attr.Mode & FileTypes.Mask);
        Assert.Equal(0u, a.Attr.Rdev);
        Assert.Equal(-2, h.Call(FuseOpcode.Getattr, 999, new FuseGetattrIn()).Error);
    }

    [Fact]
    public async Task Devices_are_encoded_the_way_the_kernel_decodes_them()
    {
        var fs = new TestFileSystem();
        fs.Root.AddCharacterDevice("tty", 4, 300);
        await using var h = Start(fs);
        var a = h.Call(FuseOpcode.Getattr, Lookup(h, 1, "tty"), new FuseGetattrIn()).As<FuseAttrOut>().Attr;
        // new_decode_dev: major = (dev & 0xfff00) >> 8, minor = (dev & 0xff) | ((dev >> 12) & 0xfff00).
        Assert.Equal(4u, (a.Rdev & 0xfff00) >> 8);
        Assert.Equal(300u, (a.Rdev & 0xff) | ((a.Rdev >> 12) & 0xfff00));
    }

    [Fact]
    public async Task A_pre_7_9_session_gets_compat_entry_and_attr_sizes_and_getattr_needs_no_body()
    {
        await using var h = Start(minor: 8);
        var reply = h.Call(FuseOpcode.Lookup, 1, Kernel.Name("etc"));
        Assert.Equal(FuseKernel.CompatEntryOutSize, reply.Body.Length);
        var attr = h.Call(FuseOpcode.Getattr, 1);
        Assert.Equal(0, attr.Error);
        Assert.Equal(FuseKernel.CompatAttrOutSize, attr.Body.Length);
        // A 7.8 READ carries the 24-byte fuse_read_in.
        ulong etc = BitConverter.ToUInt64(reply.Body[..8]);
        ulong hello = BitConverter.ToUInt64(h.Call(FuseOpcode.Lookup, etc, Kernel.Name("hello")).Body[..8]);
        var fh = Open(h, hello);
        var read = Kernel.Bytes(new FuseReadIn { Fh = fh, Offset = 7, Size = 100 });
        var data = h.Call(FuseOpcode.Read, hello, read.AsSpan(0, FuseKernel.CompatReadInSize));
        Assert.Equal("fuse\n", Encoding.UTF8.GetString(data.Body));
    }

    [Fact]
    public async Task Readlink_answers_the_target_without_NUL()
    {
        await using var h = Start();
        var link = Lookup(h, Lookup(h, 1, "etc"), "link");
        var reply = h.Call(FuseOpcode.Readlink, link);
        Assert.Equal("hello", Encoding.UTF8.GetString(reply.Body));
        Assert.Equal(-22, h.Call(FuseOpcode.Readlink, 1).Error);
    }

    [Fact]
    public async Task Open_keeps_the_page_cache_and_skips_flush_and_read_returns_bytes_at_offset()
    {
        await using var h = Start();
        var hello = Lookup(h, Lookup(h, 1, "etc"), "hello");
        var open = h.Call(FuseOpcode.Open, hello, new FuseOpenIn());
        var o = open.As<FuseOpenOut>();
        Assert.Equal(OpenReplyFlags.KeepCache | OpenReplyFlags.NoFlush, o.OpenFlags);
        Assert.Equal(hello * 1000, o.Fh);

        var all = h.Call(FuseOpcode.Read, hello, new FuseReadIn { Fh = o.Fh, Offset = 0, Size = 4096 });
        Assert.Equal(Trees.HelloBytes, all.Body.ToArray());
        var tail = h.Call(FuseOpcode.Read, hello, new FuseReadIn { Fh = o.Fh, Offset = 7, Size = 3 });
        Assert.Equal("fus", Encoding.UTF8.GetString(tail.Body));
        var eof = h.Call(FuseOpcode.Read, hello, new FuseReadIn { Fh = o.Fh, Offset = 4096, Size = 4096 });
        Assert.Equal((0, 0), (eof.Error, eof.Body.Length));

        Assert.Equal(0, h.Call(FuseOpcode.Flush, hello, new FuseFlushIn { Fh = o.Fh }).Error);
        var release = h.Call(FuseOpcode.Release, hello, new FuseReleaseIn { Fh = o.Fh });
        Assert.Equal((0, 0), (release.Error, release.Body.Length));
        Assert.Equal(1, h.Fs.Releases);
    }

    [Theory]
    [InlineData(1)]        // O_WRONLY
    [InlineData(2)]        // O_RDWR
    [InlineData(0x200)]    // O_RDONLY | O_TRUNC
    public async Task Opening_for_writing_is_EROFS(uint flags)
    {
        await using var h = Start();
        var hello = Lookup(h, Lookup(h, 1, "etc"), "hello");
        Assert.Equal(-30, h.Call(FuseOpcode.Open, hello, new FuseOpenIn { Flags = flags }).Error);
    }

    [Fact]
    public async Task Opendir_asks_the_kernel_to_cache_the_listing()
    {
        await using var h = Start();
        var o = h.Call(FuseOpcode.Opendir, 1, new FuseOpenIn()).As<FuseOpenOut>();
        Assert.Equal(OpenReplyFlags.CacheDir | OpenReplyFlags.KeepCache, o.OpenFlags);
        Assert.Equal(7ul, o.Fh);
        Assert.Equal(0, h.Call(FuseOpcode.Releasedir, 1, new FuseReleaseIn { Fh = 7 }).Error);
    }

    [Fact]
    public async Task Readdir_writes_aligned_dirents_with_types_and_resume_cookies()
    {
        await using var h = Start();
        var reply = h.Call(FuseOpcode.Readdir, 1, new FuseReadIn { Fh = 7, Offset = 0, Size = 4096 });
        var entries = reply.Dirents(plus: false);
        Assert.Equal([".", "..", "buggy", "etc", "failing", "gone", "opaque", "slow", "stuck"], entries.Select(e => e.Name));
        Assert.Equal(Enumerable.Range(1, 9).Select(i => (ulong)i), entries.Select(e => e.Dirent.Off));
        Assert.Equal(4u, entries.Single(e => e.Name == "etc").Dirent.Type);     // DT_DIR
        Assert.Equal(2u, entries.Single(e => e.Name == "gone").Dirent.Type);    // DT_CHR
        Assert.Equal(8u, entries.Single(e => e.Name == "slow").Dirent.Type);    // DT_REG
        Assert.Null(entries[0].Entry);

        // Resume from a cookie; a buffer too small for the rest gives what fits.
        var rest = h.Call(FuseOpcode.Readdir, 1, new FuseReadIn { Fh = 7, Offset = 5, Size = 64 }).Dirents(plus: false);
        Assert.Equal(["gone", "opaque"], rest.Select(e => e.Name));
        var end = h.Call(FuseOpcode.Readdir, 1, new FuseReadIn { Fh = 7, Offset = 9, Size = 4096 });
        Assert.Equal((0, 0), (end.Error, end.Body.Length));
    }

    [Fact]
    public async Task Readdirplus_carries_a_full_entry_per_name()
    {
        await using var h = Start();
        var entries = h.Call(FuseOpcode.Readdirplus, 1, new FuseReadIn { Fh = 7, Size = 4096 }).Dirents(plus: true);
        var etc = entries.Single(e => e.Name == "etc");
        Assert.Equal(etc.Dirent.Ino, etc.Entry!.Value.NodeId);
        Assert.Equal(FileTypes.Directory | 0x1ED, etc.Entry.Value.Attr.Mode);
        Assert.Equal(90ul, etc.Entry.Value.EntryValid);
        Assert.Equal(30ul, etc.Entry.Value.AttrValid);
    }

    [Fact]
    public async Task Listing_a_large_directory_takes_several_requests_and_loses_nothing()
    {
        var fs = new TestFileSystem();
        var names = Enumerable.Range(0, 3000).Select(i => $"file-{i:D5}-{new string('x', i % 40)}").ToArray();
        foreach (var n in names) fs.Root.AddFile(n, []);
        await using var h = Start(fs);
        var seen = new List<string>();
        ulong offset = 0;
        int calls = 0;
        while (true)
        {
            var batch = h.Call(FuseOpcode.Readdirplus, 1, new FuseReadIn { Offset = offset, Size = 4096 }).Dirents(plus: true);
            if (batch.Count == 0) break;
            calls++;
            seen.AddRange(batch.Select(b => b.Name));
            offset = batch[^1].Dirent.Off;
        }
        Assert.True(calls > 50);
        Assert.Equal(new[] { ".", ".." }.Concat(names.Order(StringComparer.Ordinal)), seen);
    }

    [Fact]
    public async Task Getxattr_probes_size_then_value_and_answers_ERANGE_and_ENODATA()
    {
        await using var h = Start();
        var opaque = Lookup(h, 1, "opaque");
        var name = Kernel.Name("trusted.overlay.opaque");

        var probe = h.Call(FuseOpcode.Getxattr, opaque, Kernel.Concat(Kernel.Bytes(new FuseGetxattrIn { Size = 0 }), name));
        Assert.Equal(1u, probe.As<FuseGetxattrOut>().Size);
        Assert.Equal(FuseGetxattrOut.WireSize, probe.Body.Length);

        var value = h.Call(FuseOpcode.Getxattr, opaque, Kernel.Concat(Kernel.Bytes(new FuseGetxattrIn { Size = 256 }), name));
        Assert.Equal("y", Encoding.UTF8.GetString(value.Body));

        var tooSmall = h.Call(FuseOpcode.Getxattr, opaque, Kernel.Concat(Kernel.Bytes(new FuseGetxattrIn { Size = 1 }), Kernel.Name("user.note")));
        Assert.Equal(-34, tooSmall.Error);

        var missing = h.Call(FuseOpcode.Getxattr, opaque, Kernel.Concat(Kernel.Bytes(new FuseGetxattrIn { Size = 64 }), Kernel.Name("user.none")));
        Assert.Equal(-61, missing.Error);
    }

    [Fact]
    public async Task Listxattr_answers_NUL_separated_names()
    {
        await using var h = Start();
        var opaque = Lookup(h, 1, "opaque");
        var size = h.Call(FuseOpcode.Listxattr, opaque, new FuseGetxattrIn { Size = 0 }).As<FuseGetxattrOut>().Size;
        Assert.Equal((uint)"trusted.overlay.opaque\0user.note\0".Length, size);
        var list = h.Call(FuseOpcode.Listxattr, opaque, new FuseGetxattrIn { Size = 4096 });
        Assert.Equal("trusted.overlay.opaque\0user.note\0", Encoding.UTF8.GetString(list.Body));
        Assert.Equal(-34, h.Call(FuseOpcode.Listxattr, opaque, new FuseGetxattrIn { Size = 5 }).Error);
        var none = h.Call(FuseOpcode.Listxattr, 1, new FuseGetxattrIn { Size = 0 });
        Assert.Equal(0u, none.As<FuseGetxattrOut>().Size);
    }

    [Fact]
    public async Task Statfs_answers_kstatfs()
    {
        await using var h = Start();
        var reply = h.Call(FuseOpcode.Statfs, 1);
        Assert.Equal(FuseKstatfs.WireSize, reply.Body.Length);
        var s = reply.As<FuseKstatfs>();
        Assert.Equal((1000ul, 4096u, 255u, 4096u), (s.Blocks, s.Bsize, s.Namelen, s.Frsize));
    }

    [Fact]
    public async Task Access_refuses_only_writing()
    {
        await using var h = Start();
        Assert.Equal(0, h.Call(FuseOpcode.Access, 1, new FuseAccessIn { Mask = 4 | 1 }).Error);
        Assert.Equal(-30, h.Call(FuseOpcode.Access, 1, new FuseAccessIn { Mask = 2 }).Error);
    }

    [Theory]
    [InlineData(FuseOpcode.Setattr, -30)]
    [InlineData(FuseOpcode.Mkdir, -30)]
    [InlineData(FuseOpcode.Mknod, -30)]
    [InlineData(FuseOpcode.Unlink, -30)]
    [InlineData(FuseOpcode.Rmdir, -30)]
    [InlineData(FuseOpcode.Rename, -30)]
    [InlineData(FuseOpcode.Rename2, -30)]
    [InlineData(FuseOpcode.Link, -30)]
    [InlineData(FuseOpcode.Symlink, -30)]
    [InlineData(FuseOpcode.Write, -30)]
    [InlineData(FuseOpcode.Create, -30)]
    [InlineData(FuseOpcode.Setxattr, -30)]
    [InlineData(FuseOpcode.Removexattr, -30)]
    [InlineData(FuseOpcode.Fallocate, -30)]
    [InlineData(FuseOpcode.Tmpfile, -30)]
    [InlineData(FuseOpcode.Fsync, -38)]
    [InlineData(FuseOpcode.Getlk, -38)]
    [InlineData(FuseOpcode.Ioctl, -38)]
    [InlineData(FuseOpcode.Lseek, -38)]
    [InlineData(FuseOpcode.Statx, -38)]
    [InlineData((FuseOpcode)777, -38)]
    public async Task Everything_else_is_answered_with_the_read_only_errno(FuseOpcode op, int error)
    {
        await using var h = Start();
        var reply = h.Call(op, 1, new byte[64]);
        Assert.Equal(error, reply.Error);
        Assert.Equal(FuseOutHeader.WireSize, reply.Bytes.Length);
    }

    [Fact]
    public async Task Forget_and_batch_forget_reach_the_filesystem_without_a_reply()
    {
        await using var h = Start();
        h.Transport.Send(Kernel.Request(FuseOpcode.Forget, 2, new FuseForgetIn { Nlookup = 3 }));
        var batch = Kernel.Concat(Kernel.Bytes(new FuseBatchForgetIn { Count = 2 }),
            Kernel.Bytes(new FuseForgetOne { NodeId = 2, Nlookup = 1 }), Kernel.Bytes(new FuseForgetOne { NodeId = 3, Nlookup = 1 }));
        h.Transport.Send(Kernel.Request(FuseOpcode.BatchForget, 0, batch));
        // The next reply is the STATFS's: the forgets were answered with silence.
        var reply = h.Call(FuseOpcode.Statfs, 1);
        Assert.Equal(FuseKstatfs.WireSize, reply.Body.Length);
        Assert.Equal(3, h.Fs.Forgets);
    }

    [Fact]
    public async Task A_request_with_a_short_body_is_EIO_and_logged()
    {
        await using var h = Start();
        var reply = h.Call(FuseOpcode.Read, 2, new byte[8]);
        Assert.Equal(-5, reply.Error);
        Assert.Single(h.Logger.WithId(1005));
    }

    [Fact]
    public async Task Request_extensions_are_not_taken_for_the_name()
    {
        await using var h = Start();
        // fuse_in_header.total_extlen (7.38) counts 8-byte units appended after the arguments.
        var request = Kernel.Request(FuseOpcode.Lookup, 1, Kernel.Concat(Kernel.Name("etc"), new byte[4], new byte[8]));
        request[36] = 1;
        var reply = h.Call(request);
        Assert.Equal(0, reply.Error);
        Assert.NotEqual(0ul, reply.As<FuseEntryOut>().NodeId);
    }
}
