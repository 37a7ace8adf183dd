using System.Runtime.InteropServices;

namespace Clip.Fuse.Protocol;

/// <summary>struct fuse_in_header (fuse.h 7.45): 40 bytes in front of every request. total_extlen (7.38) was padding before.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseInHeader
{
    public const int WireSize = 40;

    /// <summary>Length of the whole request, header included.</summary>
    public uint Length;
    public uint Opcode;
    /// <summary>Request id, echoed in the reply. Bit 63 is FUSE_UNIQUE_RESEND (only with FUSE_HAS_RESEND, which clip does not ask for).</summary>
    public ulong Unique;
    public ulong NodeId;
    public uint Uid;
    public uint Gid;
    public uint Pid;
    /// <summary>Length of request extensions at the end of the request, in 8-byte units (7.38).</summary>
    public ushort TotalExtLength;
    public ushort Padding;
}

/// <summary>struct fuse_out_header (fuse.h): 16 bytes in front of every reply; error is 0 or a negative errno.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseOutHeader
{
    public const int WireSize = 16;

    public uint Length;
    public int Error;
    public ulong Unique;
}
