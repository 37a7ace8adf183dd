using Microsoft.Extensions.Logging;

namespace Clip.FileSystem;

/// <summary>Log events of Clip.FileSystem. Ids are stable (4001+): add, never renumber.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Serving {Tree} at {MountPoint}")]
    public static partial void Serving(ILogger logger, string tree, string mountPoint);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Stopped serving {MountPoint} ({Result})")]
    public static partial void Stopped(ILogger logger, string mountPoint, string result);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "{MountPoint} was still in use {Grace} after a lazy unmount; the session is aborted (open files now fail with ENOTCONN)")]
    public static partial void Aborted(ILogger logger, string mountPoint, TimeSpan grace);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "{MountPoint} was unmounted by someone else; forgetting it")]
    public static partial void UnmountedElsewhere(ILogger logger, string mountPoint);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning, Message = "Releasing what served {MountPoint} failed")]
    public static partial void ReleaseFailed(ILogger logger, Exception exception, string mountPoint);
}
