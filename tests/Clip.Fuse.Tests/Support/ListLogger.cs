using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Clip.Fuse.Tests.Support;

/// <summary>Captures log entries so tests can assert "one log line, with this event id".</summary>
public sealed class ListLogger : ILogger
{
    public sealed record Entry(LogLevel Level, EventId EventId, string Message, Exception? Exception);

    public ConcurrentQueue<Entry> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue(new Entry(logLevel, eventId, formatter(state, exception), exception));

    public IEnumerable<Entry> WithId(int id) => Entries.Where(e => e.EventId.Id == id);
}
