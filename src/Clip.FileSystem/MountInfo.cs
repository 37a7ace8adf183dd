using System.Text;

namespace Clip.FileSystem;

/// <summary>One line of /proc/self/mountinfo (proc(5)).</summary>
/// <param name="MountPoint">Where it is mounted (unescaped).</param>
/// <param name="FileSystemType">"fuse.clip", "overlay", ...</param>
/// <param name="Source">The mount source ("clip:…", "overlay").</param>
public sealed record MountEntry(string MountPoint, string FileSystemType, string Source, string Options);

/// <summary>What is mounted where, read from /proc/self/mountinfo.</summary>
public static class MountInfo
{
    private const string Path = "/proc/self/mountinfo";

    public static IReadOnlyList<MountEntry> Read()
    {
        var list = new List<MountEntry>();
        if (!File.Exists(Path)) return list;
        foreach (string line in File.ReadLines(Path))
        {
            // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
            string[] f = line.Split(' ');
            int dash = Array.IndexOf(f, "-");
            if (f.Length < 6 || dash < 0 || dash + 3 > f.Length) continue;
            list.Add(new MountEntry(Unescape(f[4]), f[dash + 1], Unescape(f[dash + 2]), f[5] + "," + (dash + 3 < f.Length ? f[dash + 3] : "")));
        }
        return list;
    }

    /// <summary>The topmost mount at <paramref name="mountPoint"/>, or null.</summary>
    public static MountEntry? Find(string mountPoint)
    {
        string mp = Normalize(mountPoint);
        return Read().LastOrDefault(m => m.MountPoint == mp);
    }

    public static bool IsMounted(string mountPoint) => Find(mountPoint) is not null;

    /// <summary>Mount points at or below <paramref name="directory"/>, deepest first (the order to unmount them in).</summary>
    public static IReadOnlyList<string> MountPointsUnder(string directory)
    {
        string dir = Normalize(directory);
        return Read().Select(m => m.MountPoint)
            .Where(mp => mp == dir || mp.StartsWith(dir + "/", StringComparison.Ordinal))
            .Distinct()
            .OrderByDescending(mp => mp.Length)
            .ToList();
    }

    internal static string Normalize(string path) => System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(path));

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo.</summary>
    private static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var bytes = new List<byte>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length && IsOctal(s[i + 1]) && IsOctal(s[i + 2]) && IsOctal(s[i + 3]))
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

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
