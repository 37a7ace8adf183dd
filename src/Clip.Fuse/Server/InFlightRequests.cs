namespace Clip.Fuse.Server;

/// <summary>
/// Requests waiting on an asynchronous read, by unique, so INTERRUPT can cancel them. An INTERRUPT may be
/// read (by another worker) before its request is registered here; such early interrupts are remembered
/// in a small ring and applied on registration. Uniques are never reused within a session, so a stale
/// entry in the ring is harmless. Only the asynchronous path touches this table: inline replies never do.
/// </summary>
internal sealed class InFlightRequests
{
    private const int EarlyInterrupts = 64;

    private readonly object _gate = new();
    private readonly Dictionary<ulong, RequestContext> _pending = new();
    private readonly ulong[] _early = new ulong[EarlyInterrupts];
    private int _earlyNext;

    public int Count
    {
        get
        {
            lock (_gate) return _pending.Count;
        }
    }

    public void Add(RequestContext ctx)
    {
        bool interrupted = false;
        lock (_gate)
        {
            _pending.Add(ctx.Unique, ctx);
            int i = Array.IndexOf(_early, ctx.Unique);
            if (i >= 0)
            {
                _early[i] = 0;
                interrupted = true;
            }
        }
        if (interrupted) ctx.Cancel();
    }

    public void Remove(RequestContext ctx)
    {
        lock (_gate) _pending.Remove(ctx.Unique);
    }

    /// <summary>Cancels the request <paramref name="unique"/> if it is waiting; otherwise remembers the interrupt for a moment.</summary>
    public void Interrupt(ulong unique)
    {
        RequestContext? ctx;
        lock (_gate)
        {
            if (!_pending.TryGetValue(unique, out ctx))
            {
                _early[_earlyNext] = unique;
                _earlyNext = (_earlyNext + 1) % EarlyInterrupts;
            }
        }
        ctx?.Cancel();
    }

    public void CancelAll()
    {
        RequestContext[] all;
        lock (_gate) all = [.. _pending.Values];
        foreach (var ctx in all) ctx.Cancel();
    }
}
