using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Clip.NetBench.Report;

/// <summary>What the numbers were measured on: CPU, memory, kernel, distribution, tool versions.</summary>
public static class MachineInfo
{
    public static List<(string Key, string Value)> Collect()
    {
        var info = new List<(string, string)>
        {
            ("CPU", $"{CpuModel()} ({Environment.ProcessorCount} logical CPUs)"),
            ("Memory", MemTotal()),
            ("Kernel", ReadFirst("/proc/sys/kernel/osrelease")),
            ("OS", OsName()),
            ("Disk under the work dir", Command("sh", "-c", "df -hT /tmp | tail -1 | awk '{print $2\" (\"$1\")\"}'")),
            (".NET runtime", RuntimeInformation.FrameworkDescription),
            ("containerd", Command("containerd", "--version")),
            ("runc", Command("runc", "--version").Split('\n')[0]),
            ("ctr-remote", Command("sh", "-c", "dpkg-query -W -f='stargz-snapshotter ${Version}' stargz-snapshotter 2>/dev/null")),
            ("registry", Command("sh", "-c", "dpkg-query -W -f='docker-registry ${Version}' docker-registry 2>/dev/null")),
            ("iproute2 (tc)", Command("sh", "-c", "dpkg-query -W -f='iproute2 ${Version}' iproute2 2>/dev/null")),
        };
        return info;
    }

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string MemTotal()
    {
        string? line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        if (line is null) return "unknown";
        long kb = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        return $"{kb / 1024.0 / 1024.0:0.0} GiB";
    }

    private static string OsName()
    {
        try
        {
            string? pretty = File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal));
            return pretty?.Split('=', 2)[1].Trim('"') ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string ReadFirst(string path)
    {
        try { return File.ReadAllText(path).Trim(); }
        catch (IOException) { return "unknown"; }
    }

    public static string Command(string file, params string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit(10_000);
            return output.Trim() is { Length: > 0 } o ? o : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "not installed";
        }
    }
}
