using System.Text;
using Clip.Interop;

namespace Clip.Snapshots;

/// <summary>
/// What is mounted below a directory, read from /proc/self/mountinfo (proc(5)). The snapshotter
/// uses it to unmount leftovers and, above all, never to delete a directory with a mount inside:
/// a recursive delete through a bind mount or a lazy layer would destroy what is mounted there.
/// </summary>
internal static class MountTable
{
    private const string MountInfoPath = "/proc/self/mountinfo";

    /// <summary>Mount points at (unless <paramref name="strictlyBelow"/>) or below <paramref name="directory"/>, deepest first.</summary>
    public static List<string> MountPointsUnder(string directory, bool strictlyBelow = false)
    {
        string dir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        var result = new List<string>();
        if (!File.Exists(MountInfoPath)) return result;
        foreach (string line in File.ReadLines(MountInfoPath))
        {
            // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue": field 5 is the mount point.
            string[] fields = line.Split(' ');
            if (fields.Length < 5) continue;
            string mp = Unescape(fields[4]);
            if ((mp == dir && !strictlyBelow) || mp.StartsWith(dir + "/", StringComparison.Ordinal))
                result.Add(mp);
        }
        result.Sort((a, b) => b.Length.CompareTo(a.Length));
        return result;
    }

    /// <summary>Whether anything is mounted at or below <paramref name="directory"/>.</summary>
    public static bool AnyMountUnder(string directory) => MountPointsUnder(directory).Count > 0;

    /// <summary>Lazily detaches (MNT_DETACH) everything mounted at (unless <paramref name="strictlyBelow"/>) or below <paramref name="directory"/>; returns what stayed.</summary>
    public static List<string> DetachAllUnder(string directory, bool strictlyBelow = false)
    {
        foreach (string mp in MountPointsUnder(directory, strictlyBelow))
        {
            // Repeat: a path can carry stacked mounts.
            for (int i = 0; i < 8 && Libc.TryUnmount(mp, Libc.MNT_DETACH) == 0; i++) { }
        }
        return MountPointsUnder(directory, strictlyBelow);
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo octal.</summary>
    private static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var bytes = new List<byte>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && IsOctal(s, i + 1))
            {
                bytes.Add((byte)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0')));
                i += 3;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(s[i].ToString()));
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctal(string s, int at) =>
        at + 2 < s.Length && s[at] is >= '0' and <= '7' && s[at + 1] is >= '0' and <= '7' && s[at + 2] is >= '0' and <= '7';
}
