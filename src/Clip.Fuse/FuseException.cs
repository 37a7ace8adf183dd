using Clip.Interop;

namespace Clip.Fuse;

/// <summary>
/// Thrown by a filesystem (typically from <see cref="IFuseFileSystem.ReadAsync"/>) to answer a request with
/// a specific errno. It is expected: the server replies with <see cref="Errno"/> and does not log it.
/// Any other exception is a bug or an outage: the reply is EIO and the server logs one line.
/// </summary>
public sealed class FuseException : Exception
{
    public FuseException(Errno errno, string? message = null, Exception? inner = null)
        : base(message ?? $"FUSE request failed: {errno}", inner)
    {
        Errno = errno;
    }

    public Errno Errno { get; }
}
