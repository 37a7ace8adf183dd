using Clip.Interop;

namespace Clip.Snapshots;

/// <summary>
/// Disk usage of a directory tree the way containerd's continuity fs.DiskUsage counts it: every
/// distinct inode once (hard links share), size = st_blocks × 512, the root included, symlinks
/// not followed.
/// </summary>
internal static class DiskUsage
{
    private static readonly EnumerationOptions Children = new()
    {
        RecurseSubdirectories = false,
        AttributesToSkip = 0,          // dot files are "hidden" to .NET; they count here
        IgnoreInaccessible = false,
        ReturnSpecialDirectories = false,
    };

    public static SnapshotUsage Measure(string root, CancellationToken cancellationToken = default)
    {
        var seen = new HashSet<(ulong Dev, ulong Ino)>();
        long size = 0;
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string path = pending.Pop();
            FileStatus st;
            try
            {
                st = Libc.LStat(path);
            }
            catch (LinuxException e) when (e.Errno == Errno.ENOENT && path != root)
            {
                continue; // removed while we walked
            }
            if (seen.Add((st.Dev, st.Inode)))
                size += st.Blocks * 512;
            if ((st.Mode & 0xF000) == 0x4000) // S_IFDIR
            {
                foreach (string child in Directory.EnumerateFileSystemEntries(path, "*", Children))
                    pending.Push(child);
            }
        }
        return new SnapshotUsage(size, seen.Count);
    }
}
