using Clip.Interop;
using Microsoft.Extensions.Logging;

namespace Clip.Fuse.Server;

/// <summary>The FUSE layer's log events. Ids are stable (dashboards and alerts key on them): add, never renumber.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Mounted FUSE filesystem {Source} at {MountPoint}")]
    public static partial void Mounted(ILogger logger, string source, string mountPoint);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information,
        Message = "FUSE INIT: kernel 7.{KernelMinor}, speaking 7.{Minor}, flags {Flags}, max_pages {MaxPages}, max_readahead {MaxReadahead}")]
    public static partial void Initialized(ILogger logger, uint kernelMinor, uint minor, string flags, ushort maxPages, uint maxReadahead);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "FUSE {Opcode} on node {NodeId} (unique {Unique}) failed; answered EIO")]
    public static partial void RequestFailed(ILogger logger, Exception exception, string opcode, ulong nodeId, ulong unique);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Writing the reply to FUSE {Opcode} (unique {Unique}) failed: {Errno}")]
    public static partial void ReplyFailed(ILogger logger, string opcode, ulong unique, Errno errno);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "Malformed FUSE request (opcode {Opcode}, {Length} bytes): {Reason}")]
    public static partial void MalformedRequest(ILogger logger, uint opcode, int length, string reason);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Information, Message = "{MountPoint} was busy; detached lazily (MNT_DETACH), the session ends when the last user closes")]
    public static partial void UnmountedLazily(ILogger logger, string mountPoint);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Information, Message = "Unmounted {MountPoint}")]
    public static partial void Unmounted(ILogger logger, string mountPoint);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Information, Message = "FUSE session {MountPoint} ended ({Reason})")]
    public static partial void SessionEnded(ILogger logger, string mountPoint, string reason);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Error, Message = "FUSE worker {Worker} failed; it keeps serving")]
    public static partial void WorkerFailed(ILogger logger, Exception exception, int worker);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Trace, Message = "FUSE {Opcode} node {NodeId} unique {Unique}")]
    public static partial void Request(ILogger logger, string opcode, ulong nodeId, ulong unique);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Error, Message = "Kernel offered FUSE {Major}.{Minor}; clip speaks 7.x only")]
    public static partial void ProtocolRefused(ILogger logger, uint major, uint minor);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Warning, Message = "{Count} FUSE reads still in flight after {Timeout}; cancelling them")]
    public static partial void DrainTimedOut(ILogger logger, int count, TimeSpan timeout);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Information, Message = "Detached from FUSE session {MountPoint}; it stays mounted for the next server")]
    public static partial void Detached(ILogger logger, string mountPoint);

    [LoggerMessage(EventId = 1014, Level = LogLevel.Information, Message = "Kernel sent FUSE DESTROY for {MountPoint}")]
    public static partial void Destroyed(ILogger logger, string mountPoint);

    [LoggerMessage(EventId = 1015, Level = LogLevel.Information, Message = "Serving FUSE session {MountPoint} (attached, FUSE 7.{Minor}, {Workers} workers)")]
    public static partial void Attached(ILogger logger, string mountPoint, uint minor, int workers);

    [LoggerMessage(EventId = 1016, Level = LogLevel.Warning, Message = "Could not raise readahead at {Path}: {Reason}; sequential reads stay at 128 KiB")]
    public static partial void ReadaheadNotSet(ILogger logger, string path, string reason);
}
