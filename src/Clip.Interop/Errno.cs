namespace Clip.Interop;

/// <summary>Linux errno values (asm-generic/errno-base.h, errno.h) that clip answers or checks.</summary>
public enum Errno
{
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    E2BIG = 7,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    EXDEV = 18,
    ENODEV = 19,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    ENFILE = 23,
    EMFILE = 24,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    EROFS = 30,
    EMLINK = 31,
    ERANGE = 34,
    ENAMETOOLONG = 36,
    ENOSYS = 38,
    ENOTEMPTY = 39,
    ELOOP = 40,
    ENODATA = 61,
    EOVERFLOW = 75,
    EOPNOTSUPP = 95,
    ETIMEDOUT = 110,
    ECANCELED = 125,
}

/// <summary>A failed system call: which call, on what, and the errno it returned.</summary>
public sealed class LinuxException : IOException
{
    public LinuxException(string call, string? subject, Errno errno)
        : base(subject is null ? $"{call} failed: {Describe(errno)}" : $"{call} {subject} failed: {Describe(errno)}", (int)errno)
    {
        Call = call;
        Errno = errno;
    }

    public string Call { get; }
    public Errno Errno { get; }

    private static string Describe(Errno errno) =>
        Enum.IsDefined(errno) ? $"{errno} ({(int)errno})" : $"errno {(int)errno}";
}
