using System.Runtime.InteropServices;

namespace Clip.Interop;

/// <summary>
/// Path-level calls that change a filesystem (mkdir, unlink, rename, links, truncate). Each throws
/// <see cref="LinuxException"/> carrying the exact errno, which is what a caller checking a read-only
/// mount (EROFS) or an overlay's behaviour needs; the .NET file APIs fold errnos into exception types.
/// </summary>
public static partial class Libc
{
    [LibraryImport(Lib, EntryPoint = "mkdir", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int mkdir_(string path, uint mode);

    [LibraryImport(Lib, EntryPoint = "rmdir", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int rmdir_(string path);

    [LibraryImport(Lib, EntryPoint = "unlink", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int unlink_(string path);

    [LibraryImport(Lib, EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int rename_(string from, string to);

    [LibraryImport(Lib, EntryPoint = "symlink", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int symlink_(string target, string path);

    [LibraryImport(Lib, EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int link_(string existing, string path);

    [LibraryImport(Lib, EntryPoint = "truncate", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int truncate_(string path, long length);

    [LibraryImport(Lib, EntryPoint = "chmod", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int chmod_(string path, uint mode);

    /// <summary>mkdir(2).</summary>
    public static void MkDir(string path, uint mode)
    {
        if (mkdir_(path, mode) != 0) throw new LinuxException("mkdir", path, LastErrno());
    }

    /// <summary>rmdir(2).</summary>
    public static void RmDir(string path)
    {
        if (rmdir_(path) != 0) throw new LinuxException("rmdir", path, LastErrno());
    }

    /// <summary>unlink(2).</summary>
    public static void Unlink(string path)
    {
        if (unlink_(path) != 0) throw new LinuxException("unlink", path, LastErrno());
    }

    /// <summary>rename(2).</summary>
    public static void Rename(string from, string to)
    {
        if (rename_(from, to) != 0) throw new LinuxException("rename", $"{from} -> {to}", LastErrno());
    }

    /// <summary>symlink(2): creates <paramref name="path"/> pointing at <paramref name="target"/>.</summary>
    public static void Symlink(string target, string path)
    {
        if (symlink_(target, path) != 0) throw new LinuxException("symlink", path, LastErrno());
    }

    /// <summary>link(2): a hard link <paramref name="path"/> to <paramref name="existing"/>.</summary>
    public static void Link(string existing, string path)
    {
        if (link_(existing, path) != 0) throw new LinuxException("link", path, LastErrno());
    }

    /// <summary>truncate(2).</summary>
    public static void Truncate(string path, long length)
    {
        if (truncate_(path, length) != 0) throw new LinuxException("truncate", path, LastErrno());
    }

    /// <summary>chmod(2).</summary>
    public static void Chmod(string path, uint mode)
    {
        if (chmod_(path, mode) != 0) throw new LinuxException("chmod", path, LastErrno());
    }
}
