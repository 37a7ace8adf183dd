using System.Runtime.InteropServices;

namespace Clip.Interop;

/// <summary>One entry of a poll(2) set (struct pollfd, poll.h): a descriptor, the events asked for, the events seen.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PollFd
{
    public int Descriptor;
    public short Events;
    public short ReturnedEvents;

    public PollFd(int descriptor, short events)
    {
        Descriptor = descriptor;
        Events = events;
        ReturnedEvents = 0;
    }
}

/// <summary>
/// The descriptor plumbing a FUSE server needs besides read/write: poll(2) so a worker can wait for a
/// request or a stop signal, eventfd(2) as that signal, non-blocking mode and dup for handing a live
/// session to another server.
/// </summary>
public static unsafe partial class Libc
{
    // poll.h
    public const short POLLIN = 0x1, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;
    // sys/eventfd.h
    public const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;
    // fcntl.h
    private const int F_DUPFD_CLOEXEC = 1030, F_GETFL = 3, F_SETFL = 4;

    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    private static partial int poll_(PollFd* fds, nuint nfds, int timeout);

    [LibraryImport(Lib, EntryPoint = "eventfd", SetLastError = true)]
    private static partial int eventfd_(uint initval, int flags);

    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int fcntl_(int fd, int cmd, int arg);

    [LibraryImport(Lib, EntryPoint = "getegid")]
    private static partial uint getegid_();

    public static uint EffectiveGroupId => getegid_();

    /// <summary>poll(2) over <paramref name="fds"/>; returns how many have events, 0 on timeout, or -errno.</summary>
    public static int Poll(Span<PollFd> fds, int timeoutMilliseconds)
    {
        fixed (PollFd* p = fds)
        {
            int n = poll_(p, (nuint)fds.Length, timeoutMilliseconds);
            return n < 0 ? -(int)LastErrno() : n;
        }
    }

    /// <summary>eventfd(2) with <see cref="EFD_CLOEXEC"/> added; returns the descriptor or throws.</summary>
    public static int EventFd(uint initialValue, int flags)
    {
        int fd = eventfd_(initialValue, flags | EFD_CLOEXEC);
        if (fd < 0) throw new LinuxException("eventfd", null, LastErrno());
        return fd;
    }

    /// <summary>Adds one to an eventfd counter, making it readable (a wake-up that stays set until read).</summary>
    public static Errno SignalEventFd(int fd)
    {
        Span<byte> one = stackalloc byte[8];
        BitConverter.TryWriteBytes(one, 1UL);
        int n = Write(fd, one);
        return n < 0 ? (Errno)(-n) : 0;
    }

    /// <summary>Sets O_NONBLOCK on the open file description behind <paramref name="fd"/>.</summary>
    public static void SetNonBlocking(int fd)
    {
        int flags = fcntl_(fd, F_GETFL, 0);
        if (flags < 0 || fcntl_(fd, F_SETFL, flags | O_NONBLOCK) < 0)
            throw new LinuxException("fcntl(O_NONBLOCK)", null, LastErrno());
    }

    /// <summary>dup(2) with close-on-exec: a second descriptor for the same open file description.</summary>
    public static int Duplicate(int fd)
    {
        int n = fcntl_(fd, F_DUPFD_CLOEXEC, 0);
        if (n < 0) throw new LinuxException("fcntl(F_DUPFD_CLOEXEC)", null, LastErrno());
        return n;
    }
}
