using Clip.Fuse.Protocol;

namespace Clip.Fuse;

/// <summary>
/// What INIT settled between kernel and server. A server attaching to a live session (see
/// <see cref="FuseSession"/>) needs it because the kernel does not send INIT twice.
/// </summary>
public sealed record FuseConnectionInfo
{
    /// <summary>The minor both sides speak: min(kernel, <see cref="FuseKernel.MinorVersion"/>); reply layouts depend on it.</summary>
    public required uint Minor { get; init; }

    /// <summary>The minor the kernel offered.</summary>
    public uint KernelMinor { get; init; }

    /// <summary>The capabilities the kernel offered.</summary>
    public InitFlags KernelFlags { get; init; }

    /// <summary>The capabilities the server asked for (a subset of <see cref="KernelFlags"/>).</summary>
    public InitFlags Flags { get; init; }

    public uint MaxReadahead { get; init; }
    public uint MaxWrite { get; init; }

    /// <summary>Pages per request (7.28+); older kernels use 32 (128 KiB).</summary>
    public ushort MaxPages { get; init; }

    public ushort MaxBackground { get; init; }
    public ushort CongestionThreshold { get; init; }
}

/// <summary>
/// A live FUSE session: the /dev/fuse descriptor of a mounted filesystem, what INIT settled, and where it is
/// mounted. <see cref="FuseServer.DetachAsync"/> hands one out; <see cref="FuseServer.Attach"/> serves one
/// (e.g. a supervisor keeps the descriptor open across a daemon restart).
/// </summary>
public sealed record FuseSession(int Descriptor, FuseConnectionInfo Connection, string? MountPoint);
