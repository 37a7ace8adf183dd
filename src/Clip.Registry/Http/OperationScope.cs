using System.Diagnostics;

namespace Clip.Registry.Http;

/// <summary>
/// The overall deadline of one registry operation, linked to the caller's token. Tells a caller's cancellation
/// (rethrown as <see cref="OperationCanceledException"/>) from the deadline (a <see cref="RegistryException"/>).
/// </summary>
internal sealed class OperationScope : IDisposable
{
    private readonly CancellationTokenSource _cts;
    private readonly long _start = Stopwatch.GetTimestamp();

    public OperationScope(TimeSpan? limit, CancellationToken caller)
    {
        Caller = caller;
        Limit = limit is { } l && l > TimeSpan.Zero && l != Timeout.InfiniteTimeSpan ? l : null;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(caller);
        if (Limit is { } t) _cts.CancelAfter(t);
    }

    /// <summary>The caller's own token.</summary>
    public CancellationToken Caller { get; }

    /// <summary>Null: no overall deadline.</summary>
    public TimeSpan? Limit { get; }

    /// <summary>Cancelled by the caller or at the deadline.</summary>
    public CancellationToken Token => _cts.Token;

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_start);

    public TimeSpan Remaining => Limit is { } l ? l - Elapsed : Timeout.InfiniteTimeSpan;

    /// <summary>Whether the deadline (not the caller) ended the operation.</summary>
    public bool Expired => !Caller.IsCancellationRequested && (_cts.IsCancellationRequested || (Limit is { } l && Elapsed >= l));

    public void Dispose() => _cts.Dispose();
}
