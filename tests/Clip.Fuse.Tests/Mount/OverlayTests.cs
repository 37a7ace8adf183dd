using Clip.Fuse.Tests.Support;
using Clip.Interop;
using Clip.Testing;

namespace Clip.Fuse.Tests.Mount;

/// <summary>
/// Kernel overlayfs stacked on two FUSE mounts merges them by overlay conventions: a char 0/0 whiteout
/// hides a lower file, trusted.overlay.opaque=y hides a lower directory's contents.
/// </summary>
public class OverlayTests
{
    [RootFact]
    public async Task Overlay_of_two_fuse_layers_applies_whiteouts_and_opaque_directories()
    {
        var lower = new TestFileSystem();
        var etc = lower.Root.AddDirectory("etc");
        etc.AddFile("passwd", "root:x:0:0\n"u8.ToArray());
        etc.AddFile("hosts", "lower hosts\n"u8.ToArray());
        var data = lower.Root.AddDirectory("data");
        data.AddFile("x", "x"u8.ToArray());
        data.AddFile("y", "y"u8.ToArray());
        lower.Root.AddFile("keep", "kept\n"u8.ToArray());
        lower.Root.AddFile("replaced", "old\n"u8.ToArray());

        var upper = new TestFileSystem();
        var upperEtc = upper.Root.AddDirectory("etc");
        upperEtc.AddWhiteout("hosts");
        upper.Root.AddDirectory("data").SetXattr("trusted.overlay.opaque", "y").AddFile("z", "z"u8.ToArray());
        upper.Root.AddFile("replaced", "new\n"u8.ToArray());
        upper.Root.AddFile("added", "added\n"u8.ToArray());

        await using var lowerMount = await Mounted.StartAsync(lower);
        await using var upperMount = await Mounted.StartAsync(upper);
        using var dir = new TempDir("clip-ovl");
        var merged = dir.Combine("merged");
        Directory.CreateDirectory(merged);
        // lowerdir=A:B: A is above B.
        Libc.Mount("overlay", merged, "overlay", Libc.MS_RDONLY, $"lowerdir={upperMount.MountPoint}:{lowerMount.MountPoint}");
        try
        {
            string P(string rel) => Path.Combine(merged, rel);
            Assert.Equal(["added", "data", "etc", "keep", "replaced"], Names(merged));
            Assert.Equal(["passwd"], Names(P("etc")));
            Assert.False(File.Exists(P("etc/hosts")));
            Assert.Equal("root:x:0:0\n", File.ReadAllText(P("etc/passwd")));
            Assert.Equal(["z"], Names(P("data")));
            Assert.False(File.Exists(P("data/x")));
            Assert.Equal("new\n", File.ReadAllText(P("replaced")));
            Assert.Equal("kept\n", File.ReadAllText(P("keep")));
            Assert.Equal("added\n", File.ReadAllText(P("added")));
            Assert.Equal(Errno.EROFS, Assert.Throws<LinuxException>(() => Libc.MkDir(P("new"), 0x1ED)).Errno);
        }
        finally
        {
            if (Libc.TryUnmount(merged, 0) != 0) Libc.TryUnmount(merged, Libc.MNT_DETACH);
        }
    }

    private static string[] Names(string path) =>
        Directory.EnumerateFileSystemEntries(path).Select(p => Path.GetFileName(p)!).Order(StringComparer.Ordinal).ToArray();
}
