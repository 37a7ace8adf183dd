using Clip.Interop;

namespace Clip.Fuse;

/// <summary>
/// A read-only tree served over FUSE, addressed by node ids the implementation chooses (stable ones,
/// derived from an index, let a restarted server answer for the same nodes; the root is
/// <see cref="NodeId.Root"/>). Synchronous members run on a server worker thread and should be fast and
/// allocation-free (metadata from an index); only <see cref="ReadAsync"/> may wait on I/O. Members
/// return 0 or an errno; the server turns an exception into EIO (or a <see cref="FuseException"/>'s
/// errno) and keeps serving. Calls for different nodes, and for the same node, arrive concurrently.
/// Names are raw bytes, as in the kernel (no NUL, never "." or ".." in Lookup).
/// </summary>
public interface IFuseFileSystem
{
    /// <summary>Resolves <paramref name="name"/> in directory <paramref name="parent"/>; ENOENT when absent, ENOTDIR when parent is not a directory.</summary>
    Errno Lookup(NodeId parent, ReadOnlySpan<byte> name, out NodeEntry entry);

    /// <summary>The attributes of <paramref name="node"/>; ENOENT for an unknown id.</summary>
    Errno GetAttributes(NodeId node, out NodeAttributes attributes);

    /// <summary>Copies a symlink's target into <paramref name="destination"/> and sets <paramref name="length"/>; EINVAL when not a symlink, ENAMETOOLONG when it does not fit.</summary>
    Errno ReadLink(NodeId node, Span<byte> destination, out int length);

    /// <summary>Opens a file for reading (write access never reaches here: it is answered EROFS); <paramref name="handle"/> comes back in reads and release.</summary>
    Errno Open(NodeId node, int flags, out ulong handle);

    /// <summary>
    /// Reads into <paramref name="buffer"/> from <paramref name="offset"/>; returns the bytes read, fewer than asked only
    /// at end of file (the kernel takes a short read as EOF). Complete synchronously when the bytes are at hand
    /// (the reply is then sent inline, allocation-free); otherwise the worker moves on and the reply is sent on
    /// completion. <paramref name="cancellationToken"/> fires when the caller is interrupted. Errors: throw <see cref="FuseException"/>.
    /// </summary>
    ValueTask<int> ReadAsync(NodeId node, ulong handle, long offset, Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Releases a handle from <see cref="Open"/> (the last close of that open file).</summary>
    void Release(NodeId node, ulong handle) { }

    /// <summary>Opens a directory for listing; <paramref name="handle"/> comes back in ReadDirectory and ReleaseDirectory.</summary>
    Errno OpenDirectory(NodeId node, out ulong handle)
    {
        handle = 0;
        return 0;
    }

    /// <summary>
    /// Lists entries after the cookie <paramref name="offset"/> (0: from the start) into <paramref name="writer"/>
    /// until <see cref="DirectoryWriter.TryAdd"/> returns false; each entry carries the cookie of the entry after
    /// it. Adding nothing means end of directory. Include "." and ".." if they should be listed.
    /// </summary>
    Errno ReadDirectory(NodeId node, ulong handle, ulong offset, ref DirectoryWriter writer);

    /// <summary>Releases a handle from <see cref="OpenDirectory"/>.</summary>
    void ReleaseDirectory(NodeId node, ulong handle) { }

    /// <summary>
    /// Sets <paramref name="length"/> to the length of attribute <paramref name="name"/> and copies the value into
    /// <paramref name="destination"/> when it fits (an empty destination asks for the length only); ENODATA when absent.
    /// </summary>
    Errno GetExtendedAttribute(NodeId node, ReadOnlySpan<byte> name, Span<byte> destination, out int length);

    /// <summary>Like <see cref="GetExtendedAttribute"/>, for the list of names, each NUL-terminated ("user.a\0trusted.b\0").</summary>
    Errno ListExtendedAttributes(NodeId node, Span<byte> destination, out int length);

    /// <summary>statfs(2) figures; the default reports an empty filesystem of 4 KiB blocks and 255-byte names.</summary>
    Errno GetStatistics(NodeId node, out FileSystemStatistics statistics)
    {
        statistics = new FileSystemStatistics { BlockSize = 4096, FragmentSize = 4096, MaxNameLength = 255 };
        return 0;
    }

    /// <summary>
    /// The kernel dropped <paramref name="lookups"/> references to <paramref name="node"/>. Every successful Lookup and
    /// every READDIRPLUS entry with a node id (except "." and "..") is one reference. Immutable trees can ignore this.
    /// </summary>
    void Forget(NodeId node, ulong lookups) { }
}
