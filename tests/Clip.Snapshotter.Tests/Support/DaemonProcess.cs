using System.Diagnostics;
using System.Net.Sockets;
using Clip.Testing;

namespace Clip.Snapshotter.Tests.Support;

/// <summary>
/// The real clip-snapshotter binary run as a child process (the one built next to these tests),
/// for what only a separate process can show: SIGKILL, SIGTERM, crash points.
/// </summary>
public sealed class DaemonProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _output = new();

    private DaemonProcess(Process process, string socket)
    {
        _process = process;
        Socket = socket;
        process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Socket { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    /// <summary>The daemon's entry assembly, copied next to the test assembly by the project reference.</summary>
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "clip-snapshotter.dll");

    /// <summary>The command line run.sh and the Go suite use to start the daemon.</summary>
    public static string Command => $"dotnet {DllPath}";

    /// <summary>Starts a daemon on <paramref name="root"/>; waits until it accepts connections unless <paramref name="expectExit"/>.</summary>
    public static async Task<DaemonProcess> StartAsync(string root, string socket, string? crashPoint = null, string? metricsAddress = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { DllPath, "--config", "/dev/null", "--root", root, "--socket", socket, "--log-level", "info" })
            psi.ArgumentList.Add(a);
        if (metricsAddress is not null)
        {
            psi.ArgumentList.Add("--metrics-address");
            psi.ArgumentList.Add(metricsAddress);
        }
        if (crashPoint is not null) psi.Environment[Clip.Snapshots.CrashPoints.EnvironmentVariable] = crashPoint;
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start clip-snapshotter");
        var d = new DaemonProcess(p, socket);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (p.HasExited) throw new InvalidOperationException($"clip-snapshotter exited {p.ExitCode} before listening:\n{d.Output}");
            try
            {
                using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await s.ConnectAsync(new UnixDomainSocketEndPoint(socket));
                return d;
            }
            catch (SocketException)
            {
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"clip-snapshotter did not listen within 60 s:\n{d.Output}");
            await Task.Delay(50);
        }
    }

    /// <summary>SIGTERM and wait; returns the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan? timeout = null)
    {
        await Proc.RunAsync("kill", "-TERM", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no cleanup code runs.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
    }

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try { await TerminateAsync(TimeSpan.FromSeconds(20)); }
            catch (OperationCanceledException) { await KillAsync(); }
        }
        _process.Dispose();
    }
}
