using Clip.Fuse.Protocol;
using Clip.Fuse.Server;
using Clip.Fuse.Transport;
using Clip.Interop;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Clip.Fuse;

/// <summary>What <see cref="FuseServer.Unmount"/> did.</summary>
public enum UnmountResult
{
    /// <summary>umount2 succeeded: the session ends now and <see cref="FuseServer.Completion"/> follows.</summary>
    Unmounted,
    /// <summary>The mount was busy and was detached lazily (MNT_DETACH): it is gone from the namespace, open files still work, the session ends when the last one closes.</summary>
    Detached,
    /// <summary>Nothing was mounted there (any more).</summary>
    NotMounted,
}

/// <summary>
/// Serves one FUSE session: a pool of worker threads, each reading its own cloned /dev/fuse descriptor,
/// dispatching to an <see cref="IFuseFileSystem"/>. Start it by mounting (<see cref="MountAsync"/>), by
/// taking over a live session (<see cref="Attach"/>), or over any transport (<see cref="Start"/>, used by
/// tests with an in-memory one). It ends when the kernel ends the session (unmount) or when stopped.
/// </summary>
public sealed class FuseServer : IAsyncDisposable
{
    private readonly IFuseTransport _transport;
    private readonly FuseServerOptions _options;
    private readonly ILogger _logger;
    private readonly FuseDispatcher _dispatcher;
    private readonly RequestContextPool _pool;
    private readonly string _name;
    private readonly bool _ownsMount;
    private readonly object _gate = new();
    private readonly List<IFuseChannel> _channels = [];
    private readonly TaskCompletionSource<FuseConnectionInfo> _initialized = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _workersStarted;
    private int _liveWorkers;
    private bool _finishing;
    private volatile bool _stopping;
    private volatile bool _detaching;

    private FuseServer(IFuseTransport transport, IFuseFileSystem fs, FuseServerOptions options, ILogger logger,
        FuseConnectionInfo? connection, string? mountPoint, bool ownsMount)
    {
        options.Validate();
        _transport = transport;
        _options = options;
        _logger = logger;
        _name = mountPoint ?? "(no mount point)";
        MountPoint = mountPoint;
        _ownsMount = ownsMount;
        int replyCapacity = FuseDispatcher.ReplyBodyCapacity(options);
        _pool = new RequestContextPool(FuseDispatcher.RequestBufferSize, replyCapacity, retain: options.WorkerCount * 2 + 16);
        _dispatcher = new FuseDispatcher(fs, options, logger, Statistics, _pool, connection, _name);
        _dispatcher.Initialized += OnInitialized;
        if (connection is not null) _initialized.TrySetResult(connection);
    }

    /// <summary>Where the session is mounted, when known.</summary>
    public string? MountPoint { get; }

    /// <summary>What INIT settled; null until the kernel's INIT has been answered.</summary>
    public FuseConnectionInfo? Connection => _dispatcher.Connection;

    /// <summary>Completes with <see cref="Connection"/> once INIT is answered (immediately for an attached session).</summary>
    public Task<FuseConnectionInfo> Initialization => _initialized.Task;

    /// <summary>Completes when serving has ended: the session was unmounted or aborted, or the server was stopped or detached.</summary>
    public Task Completion => _completion.Task;

    public FuseServerStatistics Statistics { get; } = new();

    /// <summary>
    /// Opens /dev/fuse, mounts it at <paramref name="mountPoint"/> with mount(2), answers the kernel's INIT and
    /// starts serving <paramref name="fs"/>. The returned server unmounts on dispose.
    /// </summary>
    public static async Task<FuseServer> MountAsync(string mountPoint, IFuseFileSystem fs, FuseMountOptions? mountOptions = null,
        FuseServerOptions? options = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        mountOptions ??= new FuseMountOptions();
        options ??= new FuseServerOptions();
        options.Validate();
        logger ??= NullLogger.Instance;
        mountPoint = Path.GetFullPath(mountPoint);

        var device = FuseDevice.Open();
        try
        {
            MountDevice(device.SessionDescriptor, mountPoint, mountOptions, options);
        }
        catch
        {
            device.Dispose();
            throw;
        }

        var server = new FuseServer(device, fs, options, logger, connection: null, mountPoint, ownsMount: true);
        server.StartWorker();
        try
        {
            await server._initialized.Task.WaitAsync(options.InitTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await server.DisposeAsync().ConfigureAwait(false);
            if (e is TimeoutException) throw new TimeoutException($"the kernel sent no FUSE INIT for {mountPoint} within {options.InitTimeout}", e);
            throw;
        }
        server.RaiseReadahead(options.MaxReadahead);
        Log.Mounted(logger, mountOptions.Source, mountPoint);
        return server;
    }

    /// <summary>
    /// Serves a session that is already mounted and initialized (a descriptor kept by a supervisor across a
    /// restart). The kernel does not repeat INIT, so <paramref name="session"/> carries what the first server
    /// negotiated. The descriptor is closed at the end only if <paramref name="ownsDescriptor"/>; the mount is
    /// never unmounted on dispose.
    /// </summary>
    public static FuseServer Attach(FuseSession session, IFuseFileSystem fs, FuseServerOptions? options = null, ILogger? logger = null,
        bool ownsDescriptor = false)
    {
        options ??= new FuseServerOptions();
        logger ??= NullLogger.Instance;
        int needed = session.Connection.MaxPages * Environment.SystemPageSize;
        if (FuseDispatcher.ReplyBodyCapacity(options) < needed)
            throw new ArgumentException($"the session negotiated reads of {needed} bytes; MaxRead {options.MaxRead} is too small", nameof(options));

        var device = FuseDevice.FromDescriptor(session.Descriptor, ownsDescriptor);
        var server = new FuseServer(device, fs, options, logger, session.Connection, session.MountPoint, ownsMount: false);
        try
        {
            for (int i = 0; i < options.WorkerCount; i++) server.StartWorker();
        }
        catch
        {
            // Not a FUSE session (the clone ioctl failed): stop the workers that started; the last one releases the device.
            server._stopping = true;
            device.Stop();
            lock (server._gate)
            {
                if (server._liveWorkers == 0) device.Dispose();
            }
            throw;
        }
        Log.Attached(logger, server._name, session.Connection.Minor, options.WorkerCount);
        return server;
    }

    /// <summary>
    /// Serves <paramref name="transport"/> (which the server then owns). Without <paramref name="connection"/> the
    /// first request must be INIT; workers beyond the first start once it is answered.
    /// </summary>
    public static FuseServer Start(IFuseTransport transport, IFuseFileSystem fs, FuseServerOptions? options = null, ILogger? logger = null,
        FuseConnectionInfo? connection = null)
    {
        options ??= new FuseServerOptions();
        var server = new FuseServer(transport, fs, options, logger ?? NullLogger.Instance, connection, mountPoint: null, ownsMount: false);
        int workers = connection is null ? 1 : options.WorkerCount;
        for (int i = 0; i < workers; i++) server.StartWorker();
        return server;
    }

    /// <summary>
    /// umount2 of <see cref="MountPoint"/>; when busy, a lazy detach (MNT_DETACH). Serving continues until the kernel
    /// ends the session, which <see cref="Completion"/> reports.
    /// </summary>
    public UnmountResult Unmount()
    {
        if (MountPoint is null) throw new InvalidOperationException("this server does not know its mount point");
        var errno = Libc.TryUnmount(MountPoint, Libc.UMOUNT_NOFOLLOW);
        if (errno == 0)
        {
            Log.Unmounted(_logger, MountPoint);
            return UnmountResult.Unmounted;
        }
        if (errno == Errno.EBUSY)
        {
            errno = Libc.TryUnmount(MountPoint, Libc.MNT_DETACH | Libc.UMOUNT_NOFOLLOW);
            if (errno == 0)
            {
                Log.UnmountedLazily(_logger, MountPoint);
                return UnmountResult.Detached;
            }
        }
        if (errno is Errno.EINVAL or Errno.ENOENT) return UnmountResult.NotMounted;
        throw new LinuxException("umount2", MountPoint, errno);
    }

    /// <summary>
    /// Stops serving without unmounting: workers take no more requests, reads in flight finish (or are cancelled
    /// after <see cref="FuseServerOptions.DrainTimeout"/>), then the descriptors are closed. If this server owned
    /// the session's last descriptor the kernel aborts the session (its users get ENOTCONN).
    /// </summary>
    public Task StopAsync()
    {
        _stopping = true;
        _transport.Stop();
        return Completion;
    }

    /// <summary>
    /// Stops serving like <see cref="StopAsync"/> but leaves the session mounted and its descriptor open, and returns
    /// it for another server's <see cref="Attach"/>. Requests not yet read stay queued in the kernel for that server.
    /// </summary>
    public async Task<FuseSession> DetachAsync()
    {
        if (_transport is not FuseDevice device) throw new NotSupportedException("only a /dev/fuse session can be handed over");
        var connection = Connection ?? throw new InvalidOperationException("the session is not initialized yet");
        _detaching = true;
        await StopAsync().ConfigureAwait(false);
        Log.Detached(_logger, _name);
        return new FuseSession(device.SessionDescriptor, connection, MountPoint);
    }

    /// <summary>Unmounts if this server mounted (lazily if busy), then stops; ends with every descriptor it owns closed.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_ownsMount && !_detaching && !Completion.IsCompleted)
        {
            UnmountResult result;
            try
            {
                result = Unmount();
            }
            catch (LinuxException)
            {
                result = UnmountResult.Detached; // could not unmount: stopping below aborts the session instead
            }
            // After a plain unmount the kernel ends the session at once; give it a moment before forcing.
            if (result != UnmountResult.Detached)
                await Task.WhenAny(Completion, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        }
        if (!Completion.IsCompleted) await StopAsync().ConfigureAwait(false);
        await Completion.ConfigureAwait(false);
    }

    private static void MountDevice(int fd, string mountPoint, FuseMountOptions mount, FuseServerOptions options)
    {
        // fs/fuse/inode.c fuse_parse_param: fd, rootmode (octal), user_id, group_id are required.
        var data = $"fd={fd},rootmode=40000,user_id={Libc.EffectiveUserId},group_id={Libc.EffectiveGroupId},max_read={options.MaxRead}";
        if (mount.AllowOther) data += ",allow_other";
        if (mount.DefaultPermissions) data += ",default_permissions";
        ulong flags = 0;
        if (mount.ReadOnly) flags |= Libc.MS_RDONLY;
        if (mount.NoSuid) flags |= Libc.MS_NOSUID;
        if (mount.NoDev) flags |= Libc.MS_NODEV;
        if (mount.Subtype is { } subtype && (subtype.Length == 0 || subtype.IndexOfAny([',', '.', '/', ' ']) >= 0))
            throw new ArgumentException($"invalid FUSE subtype '{subtype}'", nameof(mount));

        try
        {
            // "fuse.<subtype>": the kernel looks up "fuse" and records the subtype (fs/filesystems.c get_fs_type).
            Libc.Mount(mount.Source, mountPoint, mount.Subtype is null ? "fuse" : "fuse." + mount.Subtype, flags, data);
        }
        catch (LinuxException e) when (e.Errno == Errno.ENODEV && mount.Subtype is not null)
        {
            // Kernels that do not split the type take the subtype as an option (what libfuse falls back to).
            Libc.Mount(mount.Source, mountPoint, "fuse", flags, data + ",subtype=" + mount.Subtype);
        }
    }

    /// <summary>
    /// INIT can only lower readahead below what the kernel offers (the bdi default, 128 KiB: fs/fuse/inode.c
    /// process_init_reply takes the minimum), which caps sequential READs at 128 KiB. The mount's bdi
    /// (/sys/class/bdi/0:N, named after the superblock's device) takes a larger value after mounting.
    /// </summary>
    private void RaiseReadahead(int bytes)
    {
        if (MountPoint is null || bytes <= 0) return;
        string? path = null;
        try
        {
            ulong dev = Libc.LStat(MountPoint).Dev;
            uint major = (uint)(((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfffUL));
            uint minor = (uint)((dev & 0xff) | ((dev >> 12) & ~0xffUL));
            path = $"/sys/class/bdi/{major}:{minor}/read_ahead_kb";
            File.WriteAllText(path, (bytes / 1024).ToString());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only /sys (inside a container) only costs throughput.
            Log.ReadaheadNotSet(_logger, path ?? MountPoint, e.Message);
        }
    }

    private void OnInitialized(FuseConnectionInfo connection)
    {
        for (int i = 1; i < _options.WorkerCount; i++)
        {
            try
            {
                StartWorker();
            }
            catch (Exception e)
            {
                // Fewer workers is slower, not broken.
                Log.WorkerFailed(_logger, e, i);
                break;
            }
        }
        _initialized.TrySetResult(connection);
    }

    private void StartWorker()
    {
        IFuseChannel channel;
        int index;
        lock (_gate)
        {
            if (_finishing || _stopping) return;
            channel = _transport.OpenChannel();
            _channels.Add(channel);
            index = _workersStarted++;
            _liveWorkers++;
        }
        var thread = new Thread(() => Work(channel, index))
        {
            IsBackground = true,
            Name = $"fuse-worker-{index}",
        };
        thread.Start();
    }

    private void Work(IFuseChannel channel, int index)
    {
        var ctx = _pool.Rent();
        try
        {
            while (true)
            {
                int n = channel.Receive(ctx.Request);
                if (n <= 0) break;
                ctx.RequestLength = n;
                ctx.Channel = channel;
                bool kept;
                try
                {
                    kept = _dispatcher.Dispatch(ctx);
                }
                catch (Exception e)
                {
                    // The dispatcher answers handler failures itself; reaching here is a bug in the protocol layer.
                    Log.WorkerFailed(_logger, e, index);
                    kept = true;
                }
                if (kept) ctx.Reset();
                else ctx = _pool.Rent();
            }
        }
        catch (Exception e)
        {
            Log.WorkerFailed(_logger, e, index);
        }
        finally
        {
            _pool.Return(ctx);
            WorkerExited();
        }
    }

    private void WorkerExited()
    {
        lock (_gate)
        {
            if (--_liveWorkers > 0) return;
            _finishing = true;
        }
        _ = Task.Run(FinishAsync);
    }

    /// <summary>Runs once, after the last worker left: drains asynchronous reads, closes descriptors, completes <see cref="Completion"/>.</summary>
    private async Task FinishAsync()
    {
        try
        {
            // The kernel ended the session: nobody can receive those replies, stop the work now.
            if (!_stopping) _dispatcher.CancelInFlight();
            if (!await DrainAsync(_options.DrainTimeout).ConfigureAwait(false))
            {
                Log.DrainTimedOut(_logger, _dispatcher.InFlight, _options.DrainTimeout);
                _dispatcher.CancelInFlight();
                await DrainAsync(_options.DrainTimeout).ConfigureAwait(false);
            }

            lock (_gate)
            {
                foreach (var channel in _channels) channel.Dispose();
                _channels.Clear();
            }
            if (_detaching && _transport is FuseDevice device) device.ReleaseSession();
            _transport.Dispose();
            Log.SessionEnded(_logger, _name, _detaching ? "detached" : _stopping ? "stopped" : "unmounted");
        }
        finally
        {
            _initialized.TrySetException(new InvalidOperationException("the FUSE session ended before INIT"));
            _completion.TrySetResult();
        }
    }

    private async Task<bool> DrainAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (_dispatcher.InFlight > 0)
        {
            if (DateTime.UtcNow >= deadline) return false;
            await Task.Delay(10).ConfigureAwait(false);
        }
        return true;
    }
}
