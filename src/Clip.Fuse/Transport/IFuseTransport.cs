using Clip.Interop;

namespace Clip.Fuse.Transport;

/// <summary>
/// Where requests come from and replies go: a FUSE session. On Linux it is /dev/fuse
/// (<see cref="FuseDevice"/>); tests use an in-memory one to speak the protocol byte for byte.
/// </summary>
public interface IFuseTransport : IDisposable
{
    /// <summary>A channel for one worker: the first is the session itself, later ones are clones sharing its request queue (FUSE_DEV_IOC_CLONE).</summary>
    IFuseChannel OpenChannel();

    /// <summary>Makes every blocked and future <see cref="IFuseChannel.Receive"/> return 0, leaving the session (and the mount) alive.</summary>
    void Stop();
}

/// <summary>
/// One reader/writer of a session. A reply must go to the channel its request was read from (each cloned
/// /dev/fuse descriptor has its own processing queue). Receive is called by one thread; Send may be called from any.
/// </summary>
public interface IFuseChannel : IDisposable
{
    /// <summary>Waits for the next request and copies it into <paramref name="buffer"/>; returns its length, or 0 when the session ended or the transport stopped.</summary>
    int Receive(Span<byte> buffer);

    /// <summary>Writes one whole reply in a single write; returns 0, ENOENT when the kernel no longer waits for it (interrupted), ENODEV when the session is gone.</summary>
    Errno Send(ReadOnlySpan<byte> reply);
}
