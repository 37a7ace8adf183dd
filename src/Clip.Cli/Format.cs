using System.Globalization;

namespace Clip.Cli;

/// <summary>Human-readable numbers for command output.</summary>
internal static class Format
{
    public static string Bytes(long n)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = n;
        int u = 0;
        while (Math.Abs(v) >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }
        return u == 0 ? $"{n} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.0} {units[u]}");
    }

    public static string Percent(double ratio) => string.Create(CultureInfo.InvariantCulture, $"{ratio * 100:0.00}%");

    public static string Seconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.00}s");

    public static string ShortDigest(Clip.Oci.Digest d) => d.Hex.Length > 12 ? $"{d.Algorithm}:{d.Hex[..12]}" : d.ToString();

    /// <summary>Mode bits as ls prints them ("drwxr-sr-x").</summary>
    public static string ModeString(char type, uint mode)
    {
        Span<char> s = stackalloc char[10];
        s[0] = type;
        string rwx = "rwxrwxrwx";
        for (int i = 0; i < 9; i++) s[i + 1] = (mode & (1u << (8 - i))) != 0 ? rwx[i] : '-';
        if ((mode & 0x800) != 0) s[3] = s[3] == 'x' ? 's' : 'S';
        if ((mode & 0x400) != 0) s[6] = s[6] == 'x' ? 's' : 'S';
        if ((mode & 0x200) != 0) s[9] = s[9] == 'x' ? 't' : 'T';
        return new string(s);
    }
}
