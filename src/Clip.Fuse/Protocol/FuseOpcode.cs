namespace Clip.Fuse.Protocol;

/// <summary>enum fuse_opcode (fuse.h 7.45); the minor that introduced an opcode is noted where it is later than 7.1.</summary>
public enum FuseOpcode : uint
{
    Lookup = 1,
    /// <summary>No reply.</summary>
    Forget = 2,
    Getattr = 3,
    Setattr = 4,
    Readlink = 5,
    Symlink = 6,
    Mknod = 8,
    Mkdir = 9,
    Unlink = 10,
    Rmdir = 11,
    Rename = 12,
    Link = 13,
    Open = 14,
    Read = 15,
    Write = 16,
    Statfs = 17,
    Release = 18,
    Fsync = 20,
    Setxattr = 21,
    Getxattr = 22,
    Listxattr = 23,
    Removexattr = 24,
    Flush = 25,
    Init = 26,
    Opendir = 27,
    Readdir = 28,
    Releasedir = 29,
    /// <summary>7.2.</summary>
    Fsyncdir = 30,
    /// <summary>7.7.</summary>
    Getlk = 31,
    Setlk = 32,
    Setlkw = 33,
    /// <summary>7.3.</summary>
    Access = 34,
    /// <summary>7.3.</summary>
    Create = 35,
    /// <summary>7.7; no reply unless EAGAIN/ENOSYS.</summary>
    Interrupt = 36,
    /// <summary>7.8.</summary>
    Bmap = 37,
    /// <summary>7.8.</summary>
    Destroy = 38,
    /// <summary>7.11.</summary>
    Ioctl = 39,
    /// <summary>7.11.</summary>
    Poll = 40,
    /// <summary>7.15: the kernel's answer to a NOTIFY_RETRIEVE; no reply.</summary>
    NotifyReply = 41,
    /// <summary>7.16; no reply.</summary>
    BatchForget = 42,
    /// <summary>7.19.</summary>
    Fallocate = 43,
    /// <summary>7.21.</summary>
    Readdirplus = 44,
    /// <summary>7.23.</summary>
    Rename2 = 45,
    /// <summary>7.24.</summary>
    Lseek = 46,
    /// <summary>7.28.</summary>
    CopyFileRange = 47,
    /// <summary>7.31 (virtiofs DAX).</summary>
    Setupmapping = 48,
    Removemapping = 49,
    /// <summary>7.34.</summary>
    Syncfs = 50,
    /// <summary>7.37.</summary>
    Tmpfile = 51,
    /// <summary>7.39.</summary>
    Statx = 52,
    /// <summary>7.45.</summary>
    CopyFileRange64 = 53,
    /// <summary>CUSE only; never sent on a FUSE mount.</summary>
    CuseInit = 4096,
}
