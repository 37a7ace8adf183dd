using System.Runtime.InteropServices;

namespace Clip.Interop;

/// <summary>
/// The libc calls clip needs (mount, the FUSE device, xattrs, ownership). Every wrapper takes
/// managed types; raw pointers never leave this file. Failures are <see cref="LinuxException"/>
/// unless the method returns an errno for the caller to answer (the FUSE hot path).
/// </summary>
public static unsafe partial class Libc
{
    private const string Lib = "libc";

    // fcntl.h
    public const int O_RDONLY = 0, O_RDWR = 2, O_CLOEXEC = 0x80000, O_NONBLOCK = 0x800;
    // sys/mount.h MS_* flags
    public const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_NOATIME = 1024, MS_BIND = 4096, MS_REC = 16384, MS_PRIVATE = 1 << 18;
    // umount2 flags
    public const int MNT_FORCE = 1, MNT_DETACH = 2, UMOUNT_NOFOLLOW = 8;
    // linux/fuse.h: #define FUSE_DEV_IOC_CLONE _IOR(229, 0, uint32_t)
    public const ulong FUSE_DEV_IOC_CLONE = 0x8004E500;

    [LibraryImport(Lib, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int open_(string path, int flags, int mode);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    private static partial int close_(int fd);

    [LibraryImport(Lib, EntryPoint = "read", SetLastError = true)]
    private static partial nint read_(int fd, byte* buf, nint count);

    [LibraryImport(Lib, EntryPoint = "write", SetLastError = true)]
    private static partial nint write_(int fd, byte* buf, nint count);

    [LibraryImport(Lib, EntryPoint = "writev", SetLastError = true)]
    private static partial nint writev_(int fd, IoVec* iov, int iovcnt);

    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
    private static partial int ioctl_(int fd, ulong request, uint* arg);

    [LibraryImport(Lib, EntryPoint = "mount", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int mount_(string? source, string target, string? fstype, ulong flags, string? data);

    [LibraryImport(Lib, EntryPoint = "umount2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int umount2_(string target, int flags);

    [LibraryImport(Lib, EntryPoint = "geteuid")]
    private static partial uint geteuid_();

    [LibraryImport(Lib, EntryPoint = "lchown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int lchown_(string path, uint uid, uint gid);

    [LibraryImport(Lib, EntryPoint = "mknod", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int mknod_(string path, uint mode, ulong dev);

    [LibraryImport(Lib, EntryPoint = "lgetxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint lgetxattr_(string path, string name, byte* value, nint size);

    [LibraryImport(Lib, EntryPoint = "lsetxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int lsetxattr_(string path, string name, byte* value, nint size, int flags);

    [LibraryImport(Lib, EntryPoint = "llistxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint llistxattr_(string path, byte* list, nint size);

    [LibraryImport(Lib, EntryPoint = "lstat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int lstat_(string path, StatBuf* buf);

    [LibraryImport(Lib, EntryPoint = "statfs", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int statfs_(string path, StatFsBuf* buf);

    [LibraryImport(Lib, EntryPoint = "syncfs", SetLastError = true)]
    private static partial int syncfs_(int fd);

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public byte* Base;
        public nint Length;
    }

    /// <summary>struct stat as x86_64 glibc lays it out (sysdeps/unix/sysv/linux/x86_64/bits/struct_stat.h).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct StatBuf
    {
        public ulong Dev;
        public ulong Ino;
        public ulong NLink;   // x86_64 order: st_nlink before st_mode
        public uint Mode;
        public uint Uid;
        public uint Gid;
        public int Pad0;
        public ulong RDev;
        public long Size;
        public long BlkSize;
        public long Blocks;
        public long ATimeSec, ATimeNsec, MTimeSec, MTimeNsec, CTimeSec, CTimeNsec;
        public long Reserved0, Reserved1, Reserved2;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct StatFsBuf
    {
        public long Type, BSize, Blocks, BFree, BAvail, Files, FFree;
        public int Fsid0, Fsid1;
        public long NameLen, FrSize, Flags;
        public long Spare0, Spare1, Spare2, Spare3;
    }

    private static Errno LastErrno() => (Errno)Marshal.GetLastPInvokeError();

    public static uint EffectiveUserId => geteuid_();

    /// <summary>open(2); returns the descriptor or throws.</summary>
    public static int Open(string path, int flags, int mode = 0)
    {
        int fd = open_(path, flags | O_CLOEXEC, mode);
        if (fd < 0) throw new LinuxException("open", path, LastErrno());
        return fd;
    }

    /// <summary>close(2); errors are ignored (the descriptor is gone either way).</summary>
    public static void Close(int fd) => close_(fd);

    /// <summary>read(2) into <paramref name="buffer"/>; returns bytes read, or -errno.</summary>
    public static int Read(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            nint n = read_(fd, p, buffer.Length);
            return n < 0 ? -(int)LastErrno() : (int)n;
        }
    }

    /// <summary>write(2) of the whole buffer in one call; returns bytes written, or -errno.</summary>
    public static int Write(int fd, ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            nint n = write_(fd, p, buffer.Length);
            return n < 0 ? -(int)LastErrno() : (int)n;
        }
    }

    /// <summary>writev(2) of two buffers as one message (a FUSE reply header and its payload); returns bytes written, or -errno.</summary>
    public static int WriteV(int fd, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        fixed (byte* a = first)
        fixed (byte* b = second)
        {
            IoVec* iov = stackalloc IoVec[2];
            iov[0] = new IoVec { Base = a, Length = first.Length };
            iov[1] = new IoVec { Base = b, Length = second.Length };
            nint n = writev_(fd, iov, second.IsEmpty ? 1 : 2);
            return n < 0 ? -(int)LastErrno() : (int)n;
        }
    }

    /// <summary>Clones a FUSE session onto a fresh /dev/fuse descriptor so another thread can read requests from it.</summary>
    public static int CloneFuseDevice(int sessionFd)
    {
        int fd = Open("/dev/fuse", O_RDWR);
        uint src = (uint)sessionFd;
        if (ioctl_(fd, FUSE_DEV_IOC_CLONE, &src) < 0)
        {
            var errno = LastErrno();
            close_(fd);
            throw new LinuxException("ioctl(FUSE_DEV_IOC_CLONE)", null, errno);
        }
        return fd;
    }

    /// <summary>mount(2).</summary>
    public static void Mount(string? source, string target, string? fsType, ulong flags, string? data)
    {
        if (mount_(source, target, fsType, flags, data) != 0)
            throw new LinuxException("mount", $"{fsType ?? "bind"} on {target}", LastErrno());
    }

    /// <summary>umount2(2); returns 0 or the errno (EINVAL: not a mount point, EBUSY: in use).</summary>
    public static Errno TryUnmount(string target, int flags)
    {
        return umount2_(target, flags) == 0 ? 0 : LastErrno();
    }

    /// <summary>lchown(2).</summary>
    public static void LChown(string path, uint uid, uint gid)
    {
        if (lchown_(path, uid, gid) != 0) throw new LinuxException("lchown", path, LastErrno());
    }

    /// <summary>mknod(2) (a whiteout is a char device 0/0).</summary>
    public static void MkNod(string path, uint mode, uint major, uint minor)
    {
        ulong dev = ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);
        if (mknod_(path, mode, dev) != 0) throw new LinuxException("mknod", path, LastErrno());
    }

    /// <summary>lgetxattr(2); null when the attribute does not exist.</summary>
    public static byte[]? LGetXattr(string path, string name)
    {
        nint size = lgetxattr_(path, name, null, 0);
        if (size < 0)
        {
            var e = LastErrno();
            if (e == Errno.ENODATA) return null;
            throw new LinuxException("lgetxattr", $"{path} {name}", e);
        }
        var value = new byte[size];
        fixed (byte* p = value)
        {
            nint n = lgetxattr_(path, name, p, value.Length);
            if (n < 0) throw new LinuxException("lgetxattr", $"{path} {name}", LastErrno());
            return value.AsSpan(0, (int)n).ToArray();
        }
    }

    /// <summary>lsetxattr(2).</summary>
    public static void LSetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value)
        {
            if (lsetxattr_(path, name, p, value.Length, 0) != 0)
                throw new LinuxException("lsetxattr", $"{path} {name}", LastErrno());
        }
    }

    /// <summary>llistxattr(2): the names of a path's extended attributes.</summary>
    public static string[] LListXattr(string path)
    {
        nint size = llistxattr_(path, null, 0);
        if (size < 0) throw new LinuxException("llistxattr", path, LastErrno());
        if (size == 0) return [];
        var buf = new byte[size];
        fixed (byte* p = buf)
        {
            nint n = llistxattr_(path, p, buf.Length);
            if (n < 0) throw new LinuxException("llistxattr", path, LastErrno());
            return System.Text.Encoding.UTF8.GetString(buf, 0, (int)n).Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
    }

    /// <summary>lstat(2), reduced to what clip compares.</summary>
    public static FileStatus LStat(string path)
    {
        StatBuf st;
        if (lstat_(path, &st) != 0) throw new LinuxException("lstat", path, LastErrno());
        return new FileStatus(st.Dev, st.Ino, (uint)st.NLink, st.Mode, st.Uid, st.Gid, st.RDev, st.Size, st.Blocks,
            st.MTimeSec, st.MTimeNsec);
    }

    /// <summary>statfs(2): the filesystem magic of the mount holding <paramref name="path"/>.</summary>
    public static long FileSystemType(string path)
    {
        StatFsBuf st;
        if (statfs_(path, &st) != 0) throw new LinuxException("statfs", path, LastErrno());
        return st.Type;
    }

    /// <summary>syncfs(2) on the filesystem holding an open descriptor.</summary>
    public static void SyncFs(int fd)
    {
        if (syncfs_(fd) != 0) throw new LinuxException("syncfs", null, LastErrno());
    }
}

/// <summary>The fields of struct stat clip uses. <see cref="RDev"/> is the kernel's encoded dev_t.</summary>
public readonly record struct FileStatus(ulong Dev, ulong Inode, uint LinkCount, uint Mode, uint Uid, uint Gid, ulong RDev,
    long Size, long Blocks, long MTimeSeconds, long MTimeNanoseconds)
{
    public uint DevMajor => (uint)(((RDev >> 32) & 0xfffff000) | ((RDev >> 8) & 0xfff));
    public uint DevMinor => (uint)(((RDev >> 12) & 0xffffff00) | (RDev & 0xff));
}
