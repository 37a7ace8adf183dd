namespace Clip.Fuse;

/// <summary>When the kernel lists directories with READDIRPLUS (names plus attributes) instead of READDIR.</summary>
public enum ReaddirPlusMode
{
    /// <summary>Plain READDIR only.</summary>
    Never,
    /// <summary>The kernel decides per directory (FUSE_READDIRPLUS_AUTO, libfuse's default).</summary>
    Auto,
    /// <summary>Always READDIRPLUS: one round trip gives every child's attributes, right when they are cheap (an index).</summary>
    Always,
}

/// <summary>How a <see cref="FuseServer"/> serves. The defaults suit an immutable tree: long kernel caches, large reads.</summary>
public sealed record FuseServerOptions
{
    /// <summary>Threads reading /dev/fuse, each on its own cloned descriptor. Reads that wait on I/O do not hold one.</summary>
    public int WorkerCount { get; init; } = Math.Clamp(Environment.ProcessorCount, 2, 8);

    /// <summary>Largest READ, in bytes (a multiple of the page size): negotiated as max_pages and the max_read mount option.</summary>
    public int MaxRead { get; init; } = 1 << 20;

    /// <summary>Readahead window in bytes: sequential reads become READs this large (up to <see cref="MaxRead"/>). Mounting sets it on the mount's bdi; 0 keeps the kernel default (128 KiB).</summary>
    public int MaxReadahead { get; init; } = 1 << 20;

    /// <summary>How long the kernel may trust a name → node mapping (fuse_entry_out.entry_valid).</summary>
    public TimeSpan EntryTimeout { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long the kernel may trust attributes (attr_valid).</summary>
    public TimeSpan AttributeTimeout { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long the kernel may remember that a name is absent; zero answers ENOENT uncached.</summary>
    public TimeSpan NegativeEntryTimeout { get; init; } = TimeSpan.FromHours(1);

    /// <summary>FOPEN_KEEP_CACHE on every open: the page cache of a file survives close and reopen.</summary>
    public bool KeepCache { get; init; } = true;

    /// <summary>FOPEN_CACHE_DIR on every opendir: the kernel caches listings.</summary>
    public bool CacheDirectories { get; init; } = true;

    /// <summary>FUSE_CACHE_SYMLINKS: the kernel caches READLINK answers.</summary>
    public bool CacheSymlinks { get; init; } = true;

    public ReaddirPlusMode ReaddirPlus { get; init; } = ReaddirPlusMode.Always;

    /// <summary>Background requests (readahead, async reads) the kernel keeps in flight; congestion starts at 3/4.</summary>
    public int MaxBackground { get; init; } = 64;

    /// <summary>How long <see cref="FuseServer.Mount"/> waits for the kernel's INIT.</summary>
    public TimeSpan InitTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long stopping waits for in-flight asynchronous reads after cancelling them.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    internal void Validate()
    {
        int page = Environment.SystemPageSize;
        if (WorkerCount < 1) throw new ArgumentOutOfRangeException(nameof(WorkerCount), WorkerCount, "at least one worker");
        if (MaxRead < page || MaxRead % page != 0 || MaxRead / page > ushort.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(MaxRead), MaxRead, $"a multiple of the page size ({page})");
        if (MaxReadahead < 0) throw new ArgumentOutOfRangeException(nameof(MaxReadahead));
        if (MaxBackground is < 1 or > ushort.MaxValue) throw new ArgumentOutOfRangeException(nameof(MaxBackground));
    }
}

/// <summary>How <see cref="FuseServer.Mount"/> mounts: mount(2) flags and the fuse option string.</summary>
public sealed record FuseMountOptions
{
    /// <summary>The mount's source as /proc/mounts shows it (e.g. a layer digest).</summary>
    public string Source { get; init; } = "clip";

    /// <summary>Filesystem subtype: the type shows as fuse.&lt;subtype&gt;; null for plain "fuse".</summary>
    public string? Subtype { get; init; } = "clip";

    /// <summary>MS_RDONLY: the VFS refuses writes itself (EROFS) before they reach the server.</summary>
    public bool ReadOnly { get; init; } = true;

    /// <summary>MS_NOSUID.</summary>
    public bool NoSuid { get; init; } = true;

    /// <summary>MS_NODEV: device nodes in the tree cannot be opened (whiteouts are still recognised by overlayfs).</summary>
    public bool NoDev { get; init; } = true;

    /// <summary>allow_other: users other than the mounter (and overlayfs on their behalf) may access the mount.</summary>
    public bool AllowOther { get; init; } = true;

    /// <summary>default_permissions: the kernel checks modes itself, so the filesystem need not.</summary>
    public bool DefaultPermissions { get; init; } = true;
}
