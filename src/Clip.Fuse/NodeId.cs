using Clip.Fuse.Protocol;

namespace Clip.Fuse;

/// <summary>
/// A node id as the kernel knows it (fuse_in_header.nodeid). The filesystem chooses them; they should be
/// stable (derived from an index) so a restarted server answers for the same nodes. <see cref="Root"/> is 1.
/// </summary>
public readonly record struct NodeId(ulong Value)
{
    /// <summary>FUSE_ROOT_ID.</summary>
    public static NodeId Root => new(FuseKernel.RootId);

    public override string ToString() => Value.ToString();
}
