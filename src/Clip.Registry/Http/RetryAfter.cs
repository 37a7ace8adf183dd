using System.Net.Http.Headers;

namespace Clip.Registry.Http;

/// <summary>Backoff arithmetic: exponential with full jitter (AWS architecture blog, "Exponential Backoff and Jitter"), and Retry-After.</summary>
internal static class Backoff
{
    /// <summary>The wait before attempt <paramref name="attempt"/> + 1 (attempt ≥ 1): random in [0, min(max, base·2^(attempt-1))], never less than a server's Retry-After.</summary>
    public static TimeSpan Delay(int attempt, TimeSpan baseDelay, TimeSpan maxDelay, TimeSpan? retryAfter)
    {
        double cap = Math.Min(maxDelay.TotalMilliseconds, baseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)));
        double jittered = Random.Shared.NextDouble() * cap;
        // Half the cap at least, so a retry storm still spreads out but never fires immediately.
        double ms = Math.Max(jittered, cap / 2);
        if (retryAfter is { } ra) ms = Math.Max(ms, Math.Min(ra.TotalMilliseconds, maxDelay.TotalMilliseconds));
        return TimeSpan.FromMilliseconds(ms);
    }

    /// <summary>The server's Retry-After (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), or null.</summary>
    public static TimeSpan? RetryAfter(HttpResponseHeaders headers, DateTimeOffset now)
    {
        var ra = headers.RetryAfter;
        if (ra is null) return null;
        if (ra.Delta is { } d) return d < TimeSpan.Zero ? TimeSpan.Zero : d;
        if (ra.Date is { } date) return date > now ? date - now : TimeSpan.Zero;
        return null;
    }
}
