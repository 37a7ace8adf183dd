using Clip.Fuse;
using Clip.Interop;
using Clip.Testing;

namespace Clip.FileSystem.Tests.Support;

/// <summary>Mounts for the tests: fresh directories, and a check that nothing is left mounted afterwards.</summary>
public static class Mounts
{
    public static async Task<MountedTree> MountAsync(TempDir dir, string name, IFuseFileSystem fs, TreeMountOptions? options = null,
        IEnumerable<IDisposable>? owned = null)
    {
        string mp = dir.Combine(name);
        Directory.CreateDirectory(mp);
        return await MountedTree.MountAsync(mp, fs, name, options, owned);
    }

    /// <summary>Kernel overlayfs, read-only, over <paramref name="lowersTopFirst"/>; returns its mount point.</summary>
    public static string Overlay(TempDir dir, string name, IEnumerable<string> lowersTopFirst)
    {
        string mp = dir.Combine(name);
        Directory.CreateDirectory(mp);
        Libc.Mount("overlay", mp, "overlay", Libc.MS_RDONLY, "lowerdir=" + string.Join(':', lowersTopFirst));
        return mp;
    }

    /// <summary>Detaches anything left below <paramref name="dir"/> (after a failed test) and asserts nothing was.</summary>
    public static void AssertNothingMountedUnder(string dir)
    {
        var left = MountInfo.MountPointsUnder(dir);
        foreach (var mp in left) Libc.TryUnmount(mp, Libc.MNT_DETACH);
        Assert.True(left.Count == 0, $"left mounted: {string.Join(", ", left)}");
    }

    public static void Unmount(string mp)
    {
        if (Libc.TryUnmount(mp, 0) != 0) Libc.TryUnmount(mp, Libc.MNT_DETACH);
    }
}
