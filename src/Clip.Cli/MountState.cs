using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Clip.FileSystem;
using Clip.Interop;
using Microsoft.Extensions.Logging;

namespace Clip.Cli;

/// <summary>
/// What a serving <c>clipctl mount</c> leaves in the run directory (default /run/clip) so that
/// <c>clipctl umount</c> finds it: <c>mounts/&lt;hash of the mount point&gt;.json</c> for a plain mount,
/// <c>&lt;cid&gt;/state.json</c> for a container. Written to a temp file and renamed.
/// </summary>
internal sealed record MountState(int Pid, string MountPoint, string? ContainerDirectory = null, string? Overlay = null, IReadOnlyList<string>? Layers = null)
{
    public static string DefaultRunDirectory => Environment.IsPrivilegedProcess
        ? "/run/clip"
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") ?? Path.GetTempPath(), "clip");

    public static string PlainPath(string runDir, string mountPoint) =>
        Path.Combine(runDir, "mounts", Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint)))))[..16] + ".json");

    public static string ContainerRunDirectory(string runDir, string id) => Path.Combine(runDir, id);

    public static string ContainerPath(string runDir, string id) => Path.Combine(ContainerRunDirectory(runDir, id), "state.json");

    /// <summary>Container ids name directories: keep them to what runc accepts.</summary>
    public static string ValidateContainerId(string id)
    {
        if (id.Length is 0 or > 128 || id is "." or ".." || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ArgumentException($"invalid container id \"{id}\": use letters, digits, '-', '_' and '.' (at most 128)");
        return id;
    }

    public void Write(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var json = new JsonObject
        {
            ["pid"] = Pid,
            ["mountPoint"] = MountPoint,
            ["containerDirectory"] = ContainerDirectory,
            ["overlay"] = Overlay,
            ["layers"] = Layers is null ? null : new JsonArray(Layers.Select(l => (JsonNode)JsonValue.Create(l)!).ToArray()),
        };
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, json.ToJsonString());
        File.Move(tmp, path, overwrite: true);
    }

    public static MountState? Read(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            return new MountState(json["pid"]!.GetValue<int>(), json["mountPoint"]!.GetValue<string>(),
                json["containerDirectory"]?.GetValue<string>(), json["overlay"]?.GetValue<string>(),
                json["layers"]?.AsArray().Select(n => n!.GetValue<string>()).ToList());
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException)
        {
            throw new InvalidDataException($"{path} is not a clipctl mount state file: {e.Message}");
        }
    }

    /// <summary>Whether <see cref="Pid"/> is a live clipctl other than this process (a pid can be reused by anything else).</summary>
    public bool ServerAlive()
    {
        if (Pid <= 0 || Pid == Environment.ProcessId) return false;
        try
        {
            string cmdline = File.ReadAllText($"/proc/{Pid}/cmdline").Replace('\0', ' ');
            return cmdline.Contains("clipctl", StringComparison.Ordinal) && cmdline.Contains(" mount", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Asks the server to stop (SIGTERM), waits for it, and kills it if it does not go.</summary>
    public async Task StopServerAsync(TimeSpan timeout)
    {
        if (!ServerAlive()) return;
        using (var kill = Process.Start(new ProcessStartInfo("kill", ["-s", "TERM", Pid.ToString()]) { UseShellExecute = false }))
            if (kill is not null) await kill.WaitForExitAsync().ConfigureAwait(false);
        var deadline = DateTime.UtcNow + timeout;
        while (ServerAlive() && DateTime.UtcNow < deadline) await Task.Delay(50).ConfigureAwait(false);
        if (ServerAlive())
        {
            try
            {
                using var p = Process.GetProcessById(Pid);
                p.Kill();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
            }
        }
        while (!Exited() && DateTime.UtcNow < deadline + TimeSpan.FromSeconds(5)) await Task.Delay(50).ConfigureAwait(false);
    }

    /// <summary>Whether the server process is gone (or a zombie its new parent has yet to reap).</summary>
    public bool Exited()
    {
        try
        {
            return File.ReadAllLines($"/proc/{Pid}/status").Any(l => l.StartsWith("State:", StringComparison.Ordinal) && l.Contains('Z'));
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Lazily detaches everything mounted at or below each directory (deepest first, stacked mounts too).</summary>
    public static void DetachAll(params string?[] directories)
    {
        foreach (var dir in directories)
        {
            if (dir is null) continue;
            foreach (var mp in MountInfo.MountPointsUnder(dir))
                for (int i = 0; i < 8 && Libc.TryUnmount(mp, Libc.MNT_DETACH) == 0; i++) { }
        }
    }
}

/// <summary>A logger that writes one line per event to a text writer (stderr, or a log file in the background).</summary>
internal sealed class LineLogger(TextWriter writer, LogLevel minimum) : ILogger, ILoggerProvider
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        string line = $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {logLevel.ToString().ToLowerInvariant()} [{eventId.Id}] {formatter(state, exception)}{(exception is null ? "" : ": " + exception.Message)}";
        lock (writer)
        {
            try
            {
                writer.WriteLine(line);
                writer.Flush();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => this;
    public void Dispose() { }
}
