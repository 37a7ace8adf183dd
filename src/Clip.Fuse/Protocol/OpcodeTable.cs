using Clip.Interop;

namespace Clip.Fuse.Protocol;

/// <summary>How the server treats an opcode.</summary>
public enum OpcodeDisposition : byte
{
    /// <summary>Not in the table: answered ENOSYS, which also tells the kernel not to ask again for most opcodes.</summary>
    NotSupported = 0,
    /// <summary>Served by the dispatcher.</summary>
    Served,
    /// <summary>Served, and the kernel expects no reply (FORGET, BATCH_FORGET, INTERRUPT, NOTIFY_REPLY).</summary>
    ServedNoReply,
    /// <summary>Would modify the tree: answered EROFS, as a read-only Linux filesystem does.</summary>
    ReadOnly,
}

/// <summary>One row of the opcode table: name for logs, the fixed input the body must at least hold, and the disposition.</summary>
public readonly record struct OpcodeInfo(string Name, int MinimumBodySize, OpcodeDisposition Disposition);

/// <summary>
/// The opcode table (fuse.h 7.45): every opcode the kernel may send, what it needs, and how it is
/// answered. Minimum body sizes are the oldest layout of each input struct (compat sizes), so a peer
/// on an older minor is parsed correctly; extra trailing bytes of newer layouts are ignored.
/// </summary>
public static class OpcodeTable
{
    private static readonly OpcodeInfo[] Rows = Build();

    /// <summary>The row for <paramref name="opcode"/>; unknown opcodes are <see cref="OpcodeDisposition.NotSupported"/>.</summary>
    public static OpcodeInfo Get(uint opcode) =>
        opcode < (uint)Rows.Length && Rows[opcode].Name is not null ? Rows[opcode] : new OpcodeInfo("UNKNOWN", 0, OpcodeDisposition.NotSupported);

    /// <summary>The errno a non-served opcode is answered with.</summary>
    public static Errno RefusalErrno(OpcodeDisposition disposition) =>
        disposition == OpcodeDisposition.ReadOnly ? Errno.EROFS : Errno.ENOSYS;

    /// <summary>The fuse.h spelling without the FUSE_ prefix: BatchForget becomes BATCH_FORGET.</summary>
    private static string HeaderName(FuseOpcode op)
    {
        var name = op.ToString();
        var sb = new System.Text.StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            bool boundary = i > 0 && (char.IsUpper(c) || (char.IsDigit(c) && !char.IsDigit(name[i - 1])));
            if (boundary) sb.Append('_');
            sb.Append(char.ToUpperInvariant(c));
        }
        return sb.ToString();
    }

    private static OpcodeInfo[] Build()
    {
        var rows = new OpcodeInfo[(int)FuseOpcode.CopyFileRange64 + 1];
        void Row(FuseOpcode op, int min, OpcodeDisposition d) => rows[(int)op] = new OpcodeInfo(HeaderName(op), min, d);

        const OpcodeDisposition S = OpcodeDisposition.Served, N = OpcodeDisposition.ServedNoReply,
            R = OpcodeDisposition.ReadOnly, U = OpcodeDisposition.NotSupported;

        // The read-only subset. LOOKUP and GETXATTR carry a NUL-terminated name after their struct.
        Row(FuseOpcode.Init, 8, S);                                    // major, minor at least
        Row(FuseOpcode.Lookup, 2, S);                                  // name + NUL
        Row(FuseOpcode.Forget, 8, N);                                  // fuse_forget_in
        Row(FuseOpcode.BatchForget, 8, N);                             // fuse_batch_forget_in + forget_one[]
        Row(FuseOpcode.Getattr, 0, S);                                 // fuse_getattr_in only since 7.9
        Row(FuseOpcode.Readlink, 0, S);
        Row(FuseOpcode.Open, 8, S);                                    // fuse_open_in
        Row(FuseOpcode.Read, FuseKernel.CompatReadInSize, S);          // fuse_read_in
        Row(FuseOpcode.Release, FuseKernel.CompatReleaseInSize, S);    // fuse_release_in
        Row(FuseOpcode.Opendir, 8, S);
        Row(FuseOpcode.Readdir, FuseKernel.CompatReadInSize, S);
        Row(FuseOpcode.Readdirplus, FuseKernel.CompatReadInSize, S);
        Row(FuseOpcode.Releasedir, FuseKernel.CompatReleaseInSize, S);
        Row(FuseOpcode.Statfs, 0, S);
        Row(FuseOpcode.Getxattr, 8 + 2, S);                            // fuse_getxattr_in + name + NUL
        Row(FuseOpcode.Listxattr, 8, S);                               // fuse_getxattr_in
        Row(FuseOpcode.Access, 8, S);                                  // fuse_access_in
        Row(FuseOpcode.Flush, 8, S);                                   // fuse_flush_in (fh is all we read)
        Row(FuseOpcode.Interrupt, 8, N);                               // fuse_interrupt_in
        Row(FuseOpcode.Destroy, 0, S);
        Row(FuseOpcode.NotifyReply, 0, N);

        // Everything that would change the tree, as ext4 mounted ro or squashfs answer it.
        foreach (var op in new[]
                 {
                     FuseOpcode.Setattr, FuseOpcode.Symlink, FuseOpcode.Mknod, FuseOpcode.Mkdir, FuseOpcode.Unlink,
                     FuseOpcode.Rmdir, FuseOpcode.Rename, FuseOpcode.Link, FuseOpcode.Write, FuseOpcode.Setxattr,
                     FuseOpcode.Removexattr, FuseOpcode.Create, FuseOpcode.Fallocate, FuseOpcode.Rename2,
                     FuseOpcode.CopyFileRange, FuseOpcode.Tmpfile, FuseOpcode.CopyFileRange64,
                 })
            Row(op, 0, R);

        // Known but not offered. ENOSYS is the answer the kernel caches as "not implemented" and then
        // handles locally: FSYNC/FSYNCDIR/SYNCFS succeed, POLL reports always-ready, LSEEK and locks
        // fall back to generic code, STATX falls back to GETATTR.
        foreach (var op in new[]
                 {
                     FuseOpcode.Fsync, FuseOpcode.Fsyncdir, FuseOpcode.Getlk, FuseOpcode.Setlk, FuseOpcode.Setlkw,
                     FuseOpcode.Bmap, FuseOpcode.Ioctl, FuseOpcode.Poll, FuseOpcode.Lseek, FuseOpcode.Setupmapping,
                     FuseOpcode.Removemapping, FuseOpcode.Syncfs, FuseOpcode.Statx,
                 })
            Row(op, 0, U);

        return rows;
    }
}
