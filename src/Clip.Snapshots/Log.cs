using Microsoft.Extensions.Logging;

namespace Clip.Snapshots;

/// <summary>Structured log messages of the snapshotter core. Event ids 1000–1099 are stable; never reuse one.</summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "Snapshotter opened at {Root}: {Active} active, {View} view, {Committed} committed, {Remote} remote")]
    public static partial void Opened(ILogger logger, string root, int active, int view, int committed, int remote);

    [LoggerMessage(1001, LogLevel.Debug, "Created {Kind} snapshot {Key} (id {Id}) on parent {Parent}")]
    public static partial void Created(ILogger logger, SnapshotKind kind, string key, long id, string parent);

    [LoggerMessage(1002, LogLevel.Debug, "Committed {Key} as {Name} (id {Id})")]
    public static partial void Committed(ILogger logger, string key, string name, long id);

    [LoggerMessage(1003, LogLevel.Debug, "Removed snapshot {Key} (id {Id})")]
    public static partial void Removed(ILogger logger, string key, long id);

    [LoggerMessage(1010, LogLevel.Information, "Serving layer {Layer} of {Image} lazily as snapshot {Target}")]
    public static partial void RemoteServed(ILogger logger, string layer, string image, string target);

    [LoggerMessage(1011, LogLevel.Information, "Layer for {Target} is not served lazily ({Reason}); containerd will unpack it")]
    public static partial void RemoteNotServable(ILogger logger, string target, string reason);

    [LoggerMessage(1012, LogLevel.Warning, "Mounting the lazy layer for {Target} failed; falling back to a normal snapshot")]
    public static partial void RemoteMountFailed(ILogger logger, Exception exception, string target);

    [LoggerMessage(1013, LogLevel.Warning, "Committing the lazy layer {Target} failed; falling back to a normal snapshot")]
    public static partial void RemoteCommitFailed(ILogger logger, Exception exception, string target);

    [LoggerMessage(1014, LogLevel.Warning, "Resolving chain id {ChainId} with the lazy filesystem failed; treating it as unknown")]
    public static partial void ResolveFailed(ILogger logger, Exception exception, string chainId);

    [LoggerMessage(1020, LogLevel.Information, "Restored remote layer {Name} at {Mountpoint}")]
    public static partial void RemoteRestored(ILogger logger, string name, string mountpoint);

    [LoggerMessage(1021, LogLevel.Warning, "Cannot restore remote layer {Name} at {Mountpoint}; it is marked unavailable and its children cannot be mounted until it is restored")]
    public static partial void RemoteRestoreFailed(ILogger logger, Exception exception, string name, string mountpoint);

    [LoggerMessage(1022, LogLevel.Warning, "Undid an interrupted lazy Prepare of {Key} (id {Id}); it is an ordinary empty active snapshot now")]
    public static partial void InterruptedRemotePrepareUndone(ILogger logger, string key, long id);

    [LoggerMessage(1023, LogLevel.Warning, "Detached leftover mount {Mountpoint}")]
    public static partial void LeftoverMountDetached(ILogger logger, string mountpoint);

    [LoggerMessage(1024, LogLevel.Information, "Removed leftover directory {Path}")]
    public static partial void LeftoverDirectoryRemoved(ILogger logger, string path);

    [LoggerMessage(1025, LogLevel.Warning, "Not removing {Path}: something is still mounted inside it ({Mountpoint})")]
    public static partial void DirectoryKeptMounted(ILogger logger, string path, string mountpoint);

    [LoggerMessage(1026, LogLevel.Warning, "Keeping {Path}: the metadata database is new, so clip cannot tell whether it is data")]
    public static partial void UnknownDirectoryKept(ILogger logger, string path);

    [LoggerMessage(1027, LogLevel.Warning, "Removing directory {Path} failed")]
    public static partial void DirectoryRemovalFailed(ILogger logger, Exception exception, string path);

    [LoggerMessage(1028, LogLevel.Warning, "Unmounting the lazy layer at {Mountpoint} failed")]
    public static partial void UnmountFailed(ILogger logger, Exception exception, string mountpoint);

    [LoggerMessage(1029, LogLevel.Error, "Snapshot {Name} (id {Id}) has no directory {Path}")]
    public static partial void SnapshotDirectoryMissing(ILogger logger, string name, long id, string path);

    [LoggerMessage(1030, LogLevel.Warning, "Remote layer {Name} failed its check; re-mounting it")]
    public static partial void RemoteCheckFailed(ILogger logger, Exception exception, string name);
}
