using System.Runtime.InteropServices;

namespace Clip.Fuse.Protocol;

/// <summary>
/// struct fuse_getxattr_in (fuse.h 7.45), body of GETXATTR (followed by the NUL-terminated name) and
/// LISTXATTR. Size 0 asks for the value's length only, answered with <see cref="FuseGetxattrOut"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseGetxattrIn
{
    public const int WireSize = 8;

    public uint Size;
    public uint Padding;
}

/// <summary>struct fuse_getxattr_out (fuse.h): the length of a value or name list, for a size-0 request.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseGetxattrOut
{
    public const int WireSize = 8;

    public uint Size;
    public uint Padding;
}
