using Clip.Fuse.Tests.Support;
using Clip.Interop;
using Clip.Testing;

namespace Clip.Fuse.Tests.Mount;

/// <summary>Every way of writing fails with EROFS: by the VFS on an ro mount, by the server on a rw one.</summary>
public class ReadOnlyTests
{
    private static TestFileSystem Tree()
    {
        var fs = new TestFileSystem();
        var dir = fs.Root.AddDirectory("dir");
        dir.AddFile("file", "data"u8.ToArray());
        fs.Root.AddDirectory("empty");
        return fs;
    }

    public static TheoryData<string> Writes => new()
    {
        "open O_WRONLY", "open O_RDWR", "open O_TRUNC", "create", "mkdir", "rmdir", "unlink", "rename", "symlink", "link",
        "truncate", "chmod", "chown", "setxattr", "mknod", "mkfifo",
    };

    private static void Attempt(string mountPoint, string write)
    {
        string P(string rel) => Path.Combine(mountPoint, rel);
        switch (write)
        {
            case "open O_WRONLY": Libc.Close(Libc.Open(P("dir/file"), 1)); break;
            case "open O_RDWR": Libc.Close(Libc.Open(P("dir/file"), Libc.O_RDWR)); break;
            case "open O_TRUNC": Libc.Close(Libc.Open(P("dir/file"), 0x200)); break;
            case "create": Libc.Close(Libc.Open(P("dir/new"), 0x41, 0x1A4)); break;   // O_WRONLY|O_CREAT
            case "mkdir": Libc.MkDir(P("dir/sub"), 0x1ED); break;
            case "rmdir": Libc.RmDir(P("empty")); break;
            case "unlink": Libc.Unlink(P("dir/file")); break;
            case "rename": Libc.Rename(P("dir/file"), P("dir/moved")); break;
            case "symlink": Libc.Symlink("file", P("dir/link")); break;
            case "link": Libc.Link(P("dir/file"), P("dir/hard")); break;
            case "truncate": Libc.Truncate(P("dir/file"), 0); break;
            case "chmod": Libc.Chmod(P("dir/file"), 0x1FF); break;
            case "chown": Libc.LChown(P("dir/file"), 1, 1); break;
            case "setxattr": Libc.LSetXattr(P("dir/file"), "user.x", "1"u8); break;
            case "mknod": Libc.MkNod(P("dir/dev"), FileTypes.CharacterDevice | 0x1A4, 1, 3); break;
            case "mkfifo": Libc.MkNod(P("dir/fifo"), FileTypes.Fifo | 0x1A4, 0, 0); break;
            default: throw new ArgumentException(write);
        }
    }

    [RootTheory]
    [MemberData(nameof(Writes))]
    public async Task A_read_only_mount_refuses_writes_with_EROFS(string write)
    {
        await using var m = await Mounted.StartAsync(Tree());
        var e = Assert.Throws<LinuxException>(() => Attempt(m.MountPoint, write));
        Assert.Equal(Errno.EROFS, e.Errno);
        Assert.Equal("data", File.ReadAllText(m["dir/file"]));
    }

    [RootTheory]
    [MemberData(nameof(Writes))]
    public async Task Without_MS_RDONLY_the_server_itself_answers_EROFS(string write)
    {
        await using var m = await Mounted.StartAsync(Tree(), new FuseMountOptions { ReadOnly = false });
        Assert.Equal("rw", MountTable.Find(m.MountPoint)!.Options.Split(',')[0]);
        long refusals = m.Server.Statistics.ErrorReplies;
        var e = Assert.Throws<LinuxException>(() => Attempt(m.MountPoint, write));
        Assert.Equal(Errno.EROFS, e.Errno);
        Assert.True(m.Server.Statistics.ErrorReplies > refusals, "the refusal came from the server");
        Assert.Equal("data", File.ReadAllText(m["dir/file"]));
    }
}
