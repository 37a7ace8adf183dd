using System.Runtime.InteropServices;
using Clip.Interop;

namespace Clip.Fuse.Transport;

/// <summary>
/// A FUSE session on /dev/fuse. Workers wait in poll(2) on their descriptor and on an eventfd, so
/// <see cref="Stop"/> can wake them without unmounting (a blocked read(2) cannot be interrupted from
/// managed code); under load a non-blocking read finds the next request without polling.
/// Descriptors are SafeHandles: closing one waits for a read or write in progress on it, so a reply
/// racing shutdown can never land on a reused descriptor number.
/// </summary>
public sealed class FuseDevice : IFuseTransport
{
    private readonly DescriptorHandle _session;
    private readonly int _stopFd;
    private readonly object _gate = new();
    private bool _sessionChannelOpened;
    private bool _disposed;
    private volatile bool _stopped;

    private FuseDevice(int sessionFd, bool ownsSession)
    {
        _stopFd = Libc.EventFd(0, Libc.EFD_NONBLOCK);
        try
        {
            Libc.SetNonBlocking(sessionFd);
        }
        catch
        {
            Libc.Close(_stopFd);
            throw;
        }
        SessionDescriptor = sessionFd;
        _session = new DescriptorHandle(sessionFd, ownsSession);
    }

    /// <summary>The descriptor passed to mount(2) as fd=N; the session lives while any descriptor of it is open.</summary>
    public int SessionDescriptor { get; }

    /// <summary>Opens /dev/fuse for a new mount; the device owns (and eventually closes) the descriptor.</summary>
    public static FuseDevice Open()
    {
        int fd = Libc.Open("/dev/fuse", Libc.O_RDWR | Libc.O_NONBLOCK);
        try
        {
            return new FuseDevice(fd, ownsSession: true);
        }
        catch
        {
            Libc.Close(fd);
            throw;
        }
    }

    /// <summary>Wraps the descriptor of an already mounted session; it is closed on dispose only if <paramref name="ownsDescriptor"/>.</summary>
    public static FuseDevice FromDescriptor(int descriptor, bool ownsDescriptor) => new(descriptor, ownsDescriptor);

    public IFuseChannel OpenChannel()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_sessionChannelOpened)
            {
                _sessionChannelOpened = true;
                return new Channel(this, _session, disposeHandle: false);
            }
            int clone = Libc.CloneFuseDevice(SessionDescriptor);
            try
            {
                Libc.SetNonBlocking(clone);
            }
            catch
            {
                Libc.Close(clone);
                throw;
            }
            return new Channel(this, new DescriptorHandle(clone, ownsHandle: true), disposeHandle: true);
        }
    }

    public void Stop()
    {
        _stopped = true;
        lock (_gate)
        {
            if (!_disposed) Libc.SignalEventFd(_stopFd);
        }
    }

    /// <summary>Gives up ownership of the session descriptor: dispose will leave it open for whoever serves the session next.</summary>
    public void ReleaseSession() => _session.SetHandleAsInvalid();

    /// <summary>Closes the stop eventfd and, if owned, the session descriptor. Closing the last descriptor of a session aborts it.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
        }
        Libc.Close(_stopFd);
        _session.Dispose();
    }

    private sealed class DescriptorHandle : SafeHandle
    {
        public DescriptorHandle(int fd, bool ownsHandle) : base(-1, ownsHandle) => SetHandle(fd);

        public override bool IsInvalid => handle == -1;

        public int Fd => (int)handle;

        protected override bool ReleaseHandle()
        {
            Libc.Close((int)handle);
            return true;
        }
    }

    private sealed class Channel(FuseDevice device, DescriptorHandle handle, bool disposeHandle) : IFuseChannel
    {
        public int Receive(Span<byte> buffer)
        {
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                return ReceiveCore(handle.Fd, buffer);
            }
            catch (ObjectDisposedException)
            {
                return 0;
            }
            finally
            {
                if (added) handle.DangerousRelease();
            }
        }

        private int ReceiveCore(int fd, Span<byte> buffer)
        {
            Span<PollFd> fds = stackalloc PollFd[2];
            while (true)
            {
                // Once stopped, take no more requests: they stay queued for the next server of the session.
                if (device._stopped) return 0;
                int n = Libc.Read(fd, buffer);
                if (n > 0) return n;
                switch ((Errno)(-n))
                {
                    case Errno.EAGAIN:
                        break;
                    // EINTR: a signal. ENOENT: the request was interrupted between queueing and our read (libfuse retries too).
                    case Errno.EINTR or Errno.ENOENT:
                        continue;
                    // ENODEV: unmounted or aborted. Anything else also ends this channel.
                    default:
                        return 0;
                }

                fds[0] = new PollFd(fd, Libc.POLLIN);
                fds[1] = new PollFd(device._stopFd, Libc.POLLIN);
                int ready = Libc.Poll(fds, -1);
                if (ready < 0 && (Errno)(-ready) != Errno.EINTR) return 0;
                if (fds[1].ReturnedEvents != 0) return 0;
                // POLLERR/POLLHUP on the device means the session is gone; the next read reports ENODEV.
            }
        }

        public Errno Send(ReadOnlySpan<byte> reply)
        {
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                int n = Libc.Write(handle.Fd, reply);
                return n < 0 ? (Errno)(-n) : 0;
            }
            catch (ObjectDisposedException)
            {
                return Errno.EBADF;
            }
            finally
            {
                if (added) handle.DangerousRelease();
            }
        }

        public void Dispose()
        {
            if (disposeHandle) handle.Dispose();
        }
    }
}
