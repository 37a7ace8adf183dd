using Clip.Fuse;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Clip.FileSystem;

/// <summary>How a tree is mounted and served.</summary>
public sealed record TreeMountOptions
{
    /// <summary>The mount source as /proc/mounts shows it (e.g. "clip:&lt;digest prefix&gt;").</summary>
    public string Source { get; init; } = "clip";

    /// <summary>
    /// Allow setuid/setgid binaries and device nodes of the tree to take effect (no MS_NOSUID, no MS_NODEV):
    /// a container's rootfs stacked on these trees must behave as on containerd's unpacked layers. Default on.
    /// </summary>
    public bool AsImage { get; init; } = true;

    public FuseServerOptions Server { get; init; } = new();

    /// <summary>After a lazy unmount of a busy tree, how long users may keep it before the session is aborted.</summary>
    public TimeSpan BusyGrace { get; init; } = TimeSpan.FromSeconds(2);

    internal FuseMountOptions Mount => new()
    {
        Source = Source,
        Subtype = "clip",
        ReadOnly = true,
        NoSuid = !AsImage,
        NoDev = !AsImage,
        AllowOther = true,
        DefaultPermissions = true,
    };
}

/// <summary>
/// A read-only tree served over FUSE at a directory, together with what it reads through (readers,
/// blob sources), which it releases once serving has ended. Made by <see cref="MountAsync"/> or by
/// <see cref="LayerMounts"/>; ends by <see cref="UnmountAsync"/> (or by someone unmounting the directory).
/// </summary>
public sealed class MountedTree : IAsyncDisposable
{
    private readonly IReadOnlyList<IDisposable> _owned;
    private readonly ILogger _logger;
    private readonly TimeSpan _busyGrace;
    private readonly Task _completion;
    private int _unmounting;

    private MountedTree(string mountPoint, string description, IFuseFileSystem fileSystem, FuseServer server,
        IReadOnlyList<IDisposable> owned, TimeSpan busyGrace, ILogger logger)
    {
        MountPoint = mountPoint;
        Description = description;
        FileSystem = fileSystem;
        Server = server;
        _owned = owned;
        _busyGrace = busyGrace;
        _logger = logger;
        _completion = ReleaseAfterServingAsync();
    }

    /// <summary>The absolute mount point.</summary>
    public string MountPoint { get; }

    /// <summary>What is served ("layer sha256:…", "image …"), for logs and listings.</summary>
    public string Description { get; }

    public IFuseFileSystem FileSystem { get; }
    public FuseServer Server { get; }

    /// <summary>Completes when serving has ended (unmounted here or elsewhere, or aborted) and owned resources are released.</summary>
    public Task Completion => _completion;

    /// <summary>Whether the tree is still served: the server runs and the kernel still has the FUSE mount there.</summary>
    public bool IsServing => !Server.Completion.IsCompleted && MountInfo.Find(MountPoint) is { } m && m.FileSystemType.StartsWith("fuse", StringComparison.Ordinal);

    /// <summary>Throws <see cref="IOException"/> when the tree is no longer served (server ended, or the mount is gone).</summary>
    public void Check()
    {
        if (Server.Completion.IsCompleted) throw new IOException($"{Description} at {MountPoint}: the FUSE server has stopped");
        if (MountInfo.Find(MountPoint) is not { } m || !m.FileSystemType.StartsWith("fuse", StringComparison.Ordinal))
            throw new IOException($"{Description} at {MountPoint}: nothing of ours is mounted there any more");
    }

    /// <summary>
    /// Mounts <paramref name="fileSystem"/> at <paramref name="mountPoint"/> (an existing directory) and serves it.
    /// <paramref name="owned"/> are disposed when serving ends — also when mounting fails, so the caller hands them
    /// over either way. Nothing is left mounted when this throws.
    /// </summary>
    public static async Task<MountedTree> MountAsync(string mountPoint, IFuseFileSystem fileSystem, string description,
        TreeMountOptions? options = null, IEnumerable<IDisposable>? owned = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        options ??= new TreeMountOptions();
        logger ??= NullLogger.Instance;
        var resources = owned?.ToList() ?? [];
        string mp = MountInfo.Normalize(mountPoint);
        FuseServer server;
        try
        {
            if (!Directory.Exists(mp)) throw new DirectoryNotFoundException($"mount point {mp} does not exist");
            server = await FuseServer.MountAsync(mp, fileSystem, options.Mount, options.Server, logger, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Release(resources, logger, mp);
            throw;
        }
        Log.Serving(logger, description, mp);
        return new MountedTree(mp, description, fileSystem, server, resources, options.BusyGrace, logger);
    }

    /// <summary>
    /// Unmounts. A busy tree is detached lazily (gone from the namespace at once) and its open files may finish
    /// for <see cref="TreeMountOptions.BusyGrace"/>; then the session is aborted so that no server outlives the call.
    /// Returns once serving has ended and resources are released. Safe to call more than once.
    /// </summary>
    public async Task<UnmountResult> UnmountAsync(CancellationToken cancellationToken = default)
    {
        UnmountResult result = UnmountResult.NotMounted;
        if (Interlocked.Exchange(ref _unmounting, 1) == 0 && !Server.Completion.IsCompleted)
        {
            result = Server.Unmount();
            if (result == UnmountResult.Detached)
            {
                var grace = Task.Delay(_busyGrace, cancellationToken);
                if (await Task.WhenAny(Server.Completion, grace).ConfigureAwait(false) != Server.Completion)
                {
                    Log.Aborted(_logger, MountPoint, _busyGrace);
                    await Server.StopAsync().ConfigureAwait(false);
                }
            }
            else if (result == UnmountResult.NotMounted)
            {
                await Server.StopAsync().ConfigureAwait(false);
            }
        }
        await _completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        return result;
    }

    public async ValueTask DisposeAsync() => await UnmountAsync(CancellationToken.None).ConfigureAwait(false);

    private async Task ReleaseAfterServingAsync()
    {
        try
        {
            await Server.Completion.ConfigureAwait(false);
        }
        finally
        {
            await Server.DisposeAsync().ConfigureAwait(false);
            Release(_owned, _logger, MountPoint);
            Log.Stopped(_logger, MountPoint, Volatile.Read(ref _unmounting) == 1 ? "unmounted" : "session ended");
        }
    }

    private static void Release(IEnumerable<IDisposable> resources, ILogger logger, string mountPoint)
    {
        foreach (var r in resources)
        {
            try
            {
                r.Dispose();
            }
            catch (Exception e)
            {
                Log.ReleaseFailed(logger, e, mountPoint);
            }
        }
    }
}
