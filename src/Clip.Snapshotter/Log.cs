using Microsoft.Extensions.Logging;

namespace Clip.Snapshotter;

/// <summary>Structured log messages of the daemon. Event ids 2000–2099 are stable; never reuse one.</summary>
internal static partial class Log
{
    [LoggerMessage(2000, LogLevel.Information, "clip-snapshotter listening on {Socket} (root {Root})")]
    public static partial void Listening(ILogger logger, string socket, string root);

    [LoggerMessage(2001, LogLevel.Information, "Serving metrics on http://{Address}/metrics")]
    public static partial void MetricsListening(ILogger logger, string address);

    [LoggerMessage(2002, LogLevel.Information, "Removed stale socket {Socket}")]
    public static partial void StaleSocketRemoved(ILogger logger, string socket);

    [LoggerMessage(2003, LogLevel.Information, "clip-snapshotter stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(2010, LogLevel.Debug, "{Method} -> {Code} in {ElapsedMs} ms")]
    public static partial void CallCompleted(ILogger logger, string method, string code, double elapsedMs);

    [LoggerMessage(2011, LogLevel.Debug, "{Method} -> {Code}: {Message}")]
    public static partial void CallRefused(ILogger logger, string method, string code, string message);

    [LoggerMessage(2012, LogLevel.Error, "{Method} failed")]
    public static partial void CallFailed(ILogger logger, Exception exception, string method);
}
