namespace Clip.Fuse.Protocol;

/// <summary>
/// Constants of the Linux FUSE kernel ABI, mirrored from <c>include/uapi/linux/fuse.h</c> protocol 7.45
/// (Linux 6.16+, libfuse 3.18 <c>fuse_kernel.h</c>). The ABI is host-endian; clip only runs on
/// little-endian 64-bit Linux (x86_64, arm64), where the structs in this namespace match byte for byte.
/// </summary>
public static class FuseKernel
{
    /// <summary>FUSE_KERNEL_VERSION: the major version; a different major is not spoken.</summary>
    public const uint MajorVersion = 7;

    /// <summary>FUSE_KERNEL_MINOR_VERSION of the header these structs mirror: the highest minor clip offers.</summary>
    public const uint MinorVersion = 45;

    /// <summary>FUSE_ROOT_ID: the node id of the mount's root directory.</summary>
    public const ulong RootId = 1;

    /// <summary>FUSE_MIN_READ_BUFFER: the kernel refuses reads of /dev/fuse into smaller buffers.</summary>
    public const int MinReadBuffer = 8192;

    /// <summary>The longest name the kernel passes or accepts in a dirent (fs/fuse/fuse_i.h FUSE_NAME_MAX).</summary>
    public const int NameMax = 1024;

    // Compat sizes (fuse.h): what a peer speaking an older minor expects in place of the full struct.
    // Each is a prefix of the current struct, so an older reply is the same bytes, cut short.

    /// <summary>FUSE_COMPAT_ENTRY_OUT_SIZE: fuse_entry_out before 7.9 (fuse_attr had no blksize/flags).</summary>
    public const int CompatEntryOutSize = 120;

    /// <summary>FUSE_COMPAT_ATTR_OUT_SIZE: fuse_attr_out before 7.9.</summary>
    public const int CompatAttrOutSize = 96;

    /// <summary>FUSE_COMPAT_INIT_OUT_SIZE: fuse_init_out before 7.5 (major, minor only).</summary>
    public const int CompatInitOutSize = 8;

    /// <summary>FUSE_COMPAT_22_INIT_OUT_SIZE: fuse_init_out from 7.5 to 7.22 (through max_write).</summary>
    public const int Compat22InitOutSize = 24;

    /// <summary>FUSE_COMPAT_STATFS_SIZE: fuse_statfs_out before 7.4 (no frsize).</summary>
    public const int CompatStatfsSize = 48;

    /// <summary>fuse_read_in before 7.9 (fh, offset, size, padding): lock_owner and flags came later.</summary>
    public const int CompatReadInSize = 24;

    /// <summary>fuse_release_in before 7.8 (fh, flags, padding).</summary>
    public const int CompatReleaseInSize = 16;

    /// <summary>fuse_init_in before 7.36 (major, minor, max_readahead, flags): flags2 and reserved words came later.</summary>
    public const int CompatInitInSize = 16;
}

/// <summary>INIT flags (fuse.h 7.45 "INIT request/reply flags"); bits 32..63 travel in flags2 when <see cref="InitExt"/> is set.</summary>
[Flags]
public enum InitFlags : ulong
{
    None = 0,
    AsyncRead = 1UL << 0,
    PosixLocks = 1UL << 1,
    FileOps = 1UL << 2,
    AtomicOTrunc = 1UL << 3,
    ExportSupport = 1UL << 4,
    BigWrites = 1UL << 5,
    DontMask = 1UL << 6,
    SpliceWrite = 1UL << 7,
    SpliceMove = 1UL << 8,
    SpliceRead = 1UL << 9,
    FlockLocks = 1UL << 10,
    HasIoctlDir = 1UL << 11,
    AutoInvalData = 1UL << 12,
    DoReaddirplus = 1UL << 13,
    ReaddirplusAuto = 1UL << 14,
    AsyncDio = 1UL << 15,
    WritebackCache = 1UL << 16,
    NoOpenSupport = 1UL << 17,
    ParallelDirops = 1UL << 18,
    HandleKillpriv = 1UL << 19,
    PosixAcl = 1UL << 20,
    AbortError = 1UL << 21,
    MaxPages = 1UL << 22,
    CacheSymlinks = 1UL << 23,
    NoOpendirSupport = 1UL << 24,
    ExplicitInvalData = 1UL << 25,
    MapAlignment = 1UL << 26,
    Submounts = 1UL << 27,
    HandleKillprivV2 = 1UL << 28,
    SetxattrExt = 1UL << 29,
    InitExt = 1UL << 30,
    InitReserved = 1UL << 31,
    SecurityCtx = 1UL << 32,
    HasInodeDax = 1UL << 33,
    CreateSuppGroup = 1UL << 34,
    HasExpireOnly = 1UL << 35,
    DirectIoAllowMmap = 1UL << 36,
    Passthrough = 1UL << 37,
    NoExportSupport = 1UL << 38,
    HasResend = 1UL << 39,
    AllowIdmap = 1UL << 40,
    OverIoUring = 1UL << 41,
    RequestTimeout = 1UL << 42,
}

/// <summary>fuse_open_out.open_flags (fuse.h 7.45 FOPEN_*).</summary>
[Flags]
public enum OpenReplyFlags : uint
{
    None = 0,
    DirectIo = 1 << 0,
    /// <summary>Keep the page cache of the file across opens (7.2); right for immutable files.</summary>
    KeepCache = 1 << 1,
    NonSeekable = 1 << 2,
    /// <summary>Let the kernel cache readdir results (7.28).</summary>
    CacheDir = 1 << 3,
    Stream = 1 << 4,
    /// <summary>Do not send FLUSH on close (7.35): nothing to flush on a read-only file.</summary>
    NoFlush = 1 << 5,
    ParallelDirectWrites = 1 << 6,
    Passthrough = 1 << 7,
}

/// <summary>fuse_getattr_in.getattr_flags (fuse.h FUSE_GETATTR_FH): the fh field is valid.</summary>
[Flags]
public enum GetattrFlags : uint
{
    None = 0,
    Fh = 1 << 0,
}
