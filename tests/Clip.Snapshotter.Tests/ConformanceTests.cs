using Clip.Snapshotter.Tests.Support;
using Clip.Testing;

namespace Clip.Snapshotter.Tests;

/// <summary>
/// containerd's own snapshotter test suite (snapshots/testsuite, containerd 1.6) against the daemon
/// built next to these tests, through containerd's proxy client, via tests/conformance/run.sh.
/// Every case that passes for containerd's overlayfs snapshotter must pass for clip.
/// Needs root, golang-go and golang-github-containerd-containerd-dev.
/// </summary>
public class ConformanceTests
{
    [RootFact]
    public async Task Containerd_snapshotter_testsuite_passes_like_overlayfs()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Clip.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        string script = Path.Combine(dir.FullName, "tests", "conformance", "run.sh");
        var r = await Proc.RunAsync("bash", [script], TimeSpan.FromMinutes(30),
            env: new Dictionary<string, string> { ["CLIP_SNAPSHOTTER"] = DaemonProcess.Command });
        Assert.True(r.ExitCode == 0, $"run.sh exited {r.ExitCode}:\n{r.StdOut}\n{r.StdErr}");
        Assert.Contains(", 0 failed", r.StdOut);
        Assert.Contains("overlayfs reference", r.StdOut);
    }
}
