using System.Text.Json.Nodes;
using Clip.FileSystem;
using Clip.Interop;
using Clip.Testing;

namespace Clip.Cli.Tests;

/// <summary>
/// clipctl mount / umount for real: the merged view and a layer tree served in the foreground, a background
/// server, and the container mode (overlay over lazy layer trees) running busybox under runc.
/// </summary>
public sealed class MountCommandTests : IAsyncLifetime
{
    private readonly TempDir _dir = new("clip-mnt");
    private string _layout = null!;
    private string _index = null!;
    private static readonly byte[] Big = TestImages.RandomBytes(24 << 20, 5);

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists("/bin/busybox"), "busybox-static must be installed (apt-get install busybox-static)");
        _layout = _dir.Combine("layout");
        var layout = new OciLayoutBuilder(_layout);
        var l1 = new LayerBuilder()
            .Dir("bin").File("bin/busybox", await File.ReadAllBytesAsync("/bin/busybox"), mode: 0b111_101_101).Symlink("bin/sh", "busybox")
            .Dir("etc").File("etc/motd", "old motd\n").File("etc/gone", "x").Dir("tmp", mode: 0b001_111_111_111)
            .Dir("data").File("data/big.bin", Big);
        var l2 = new LayerBuilder().File("etc/motd", "hello from clip\n").Whiteout("etc/gone");
        layout.AddImage("v1", [OciLayoutBuilder.Layer.Gzip(l1), OciLayoutBuilder.Layer.Gzip(l2)], cmd: ["/bin/sh"]);
        _index = _dir.Combine("bb.clip");
        var r = await CliRunner.RunAsync("index", "--oci-layout", $"{_layout}:v1", "--out", _index, "--span-size", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
    }

    public Task DisposeAsync()
    {
        var left = MountInfo.MountPointsUnder(_dir.Path);
        foreach (var mp in left) Libc.TryUnmount(mp, Libc.MNT_DETACH);
        _dir.Dispose();
        Assert.True(left.Count == 0, $"left mounted: {string.Join(", ", left)}");
        return Task.CompletedTask;
    }

    private string[] Common => ["--run-dir", _dir.Combine("run"), "--root", _dir.Combine("root")];

    private static async Task WaitMountedAsync(string mp, Task<CliRunner.Result>? server = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!MountInfo.IsMounted(mp))
        {
            if (server is { IsCompleted: true }) Assert.Fail($"clipctl mount ended: {(await server).Stderr}");
            Assert.True(DateTime.UtcNow < deadline, $"{mp} was not mounted in time");
            await Task.Delay(50);
        }
    }

    [RootFact]
    public async Task Mount_serves_the_merged_view_in_the_foreground_until_umount()
    {
        string mp = _dir.Combine("merged");
        Directory.CreateDirectory(mp);
        var server = CliRunner.RunAsync(["mount", _index, mp, .. Common]);
        await WaitMountedAsync(mp, server);
        Assert.Equal("hello from clip\n", await File.ReadAllTextAsync(Path.Combine(mp, "etc/motd")));
        Assert.False(File.Exists(Path.Combine(mp, "etc/gone")));
        Assert.Equal(await File.ReadAllBytesAsync("/bin/busybox"), await File.ReadAllBytesAsync(Path.Combine(mp, "bin/busybox")));
        Assert.Equal("fuse.clip", MountInfo.Find(mp)!.FileSystemType);

        var umount = await CliRunner.RunAsync(["umount", mp, .. Common]);
        Assert.True(umount.ExitCode == 0, umount.Stderr);
        var result = await server.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.False(MountInfo.IsMounted(mp));
        Assert.Empty(Directory.EnumerateFiles(_dir.Combine("run", "mounts")));

        var again = await CliRunner.RunAsync(["umount", mp, .. Common]);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("not mounted", again.Stderr);
    }

    [RootFact]
    public async Task Mount_with_layer_serves_that_layers_own_tree_and_stops_on_cancellation()
    {
        var file = Clip.Index.Format.ClipIndexFile.Load(_index);
        string digest = file.ImageLayers()[1].Digest.ToString();
        string mp = _dir.Combine("layer");
        Directory.CreateDirectory(mp);
        using var cts = new CancellationTokenSource();
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        var server = ClipCtl.RunAsync(["mount", _index, mp, "--layer", digest[..19], .. Common], new CliConsole(stdout, stderr, false), cts.Token);
        await WaitMountedAsync(mp);
        var gone = Libc.LStat(Path.Combine(mp, "etc/gone"));
        Assert.Equal(0x2000u, gone.Mode & 0xF000); // a whiteout: char device 0/0
        Assert.Equal((0u, 0u), (gone.DevMajor, gone.DevMinor));
        Assert.False(File.Exists(Path.Combine(mp, "bin/busybox")));
        // Serving (state written) before the stop request, so this is a stop and not an interrupted mount.
        string states = _dir.Combine("run", "mounts");
        for (int i = 0; i < 100 && !(Directory.Exists(states) && Directory.EnumerateFiles(states, "*.json").Any()); i++)
            await Task.Delay(50);
        cts.Cancel(); // what SIGTERM does
        Assert.True(await server.WaitAsync(TimeSpan.FromSeconds(30)) == 0, stderr.ToString());
        Assert.False(MountInfo.IsMounted(mp));

        var bad = await CliRunner.RunAsync(["mount", _index, mp, "--layer", "sha256:0000", .. Common]);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("no layer", bad.Stderr);
    }

    /// <summary>Whether <paramref name="pid"/> is gone (or a zombie waiting for init to reap it) within a few seconds.</summary>
    private static async Task<bool> ExitedAsync(int pid)
    {
        for (int i = 0; i < 100; i++)
        {
            try
            {
                if (File.ReadAllLines($"/proc/{pid}/status").Any(l => l.StartsWith("State:") && l.Contains('Z'))) return true;
            }
            catch (IOException)
            {
                return true;
            }
            await Task.Delay(100);
        }
        return false;
    }

    private static string Clipctl => Path.Combine(AppContext.BaseDirectory, "clipctl");

    [RootFact]
    public async Task Mount_in_the_background_returns_when_ready_and_umount_stops_the_server()
    {
        string mp = _dir.Combine("bg");
        Directory.CreateDirectory(mp);
        var r = await Proc.RunAsync(Clipctl, ["mount", _index, mp, "--background", .. Common], TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.True(MountInfo.IsMounted(mp), "mounted when mount --background returns");
        var state = JsonNode.Parse(await File.ReadAllTextAsync(Directory.GetFiles(_dir.Combine("run", "mounts"), "*.json").Single()))!;
        int pid = state["pid"]!.GetValue<int>();
        Assert.True(Directory.Exists($"/proc/{pid}"));
        Assert.Equal("hello from clip\n", await File.ReadAllTextAsync(Path.Combine(mp, "etc/motd")));

        var u = await Proc.RunAsync(Clipctl, ["umount", mp, .. Common], TimeSpan.FromMinutes(1));
        Assert.True(u.ExitCode == 0, u.StdErr);
        Assert.False(MountInfo.IsMounted(mp));
        Assert.True(await ExitedAsync(pid), "the background server exited");
    }

    [RootFact]
    public async Task Container_mode_runs_busybox_under_runc_reading_lazily_and_umount_removes_everything()
    {
        Assert.True(File.Exists("/usr/sbin/runc") || File.Exists("/usr/bin/runc"), "runc must be installed (apt-get install runc)");
        await using var registry = await RegistryServer.StartAsync();
        await registry.PushOciLayoutAsync(_layout, "v1", "cli/bb", "v1");
        string image = $"{registry.Address}/cli/bb:v1";
        string cid = "clip-test-" + Guid.NewGuid().ToString("N")[..6];

        var m = await Proc.RunAsync(Clipctl, ["mount", "--image", image, "--cid", cid, "--background", .. Common], TimeSpan.FromMinutes(3));
        Assert.True(m.ExitCode == 0, m.StdErr);
        string rootfs = m.StdOut.Trim();
        Assert.Equal(_dir.Combine("run", cid, "rootfs"), rootfs);
        Assert.Equal("overlay", MountInfo.Find(rootfs)!.FileSystemType);
        int pid = JsonNode.Parse(await File.ReadAllTextAsync(_dir.Combine("run", cid, "state.json")))!["pid"]!.GetValue<int>();
        try
        {
            string bundle = _dir.Combine("bundle");
            Directory.CreateDirectory(bundle);
            (await Proc.RunAsync("runc", ["spec"], workingDirectory: bundle)).EnsureSuccess("runc spec");
            var spec = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(bundle, "config.json")))!;
            spec["root"]!["path"] = rootfs;
            spec["root"]!["readonly"] = false;
            spec["process"]!["terminal"] = false;
            spec["process"]!["args"] = new JsonArray("/bin/sh", "-c", "cat /etc/motd; test -e /etc/gone || echo gone; echo written > /tmp/x; cat /tmp/x");
            await File.WriteAllTextAsync(Path.Combine(bundle, "config.json"), spec.ToJsonString());
            var run = await Proc.RunAsync("runc", ["run", "--bundle", bundle, cid], TimeSpan.FromMinutes(2));
            Assert.True(run.ExitCode == 0, $"runc run: {run.StdErr}");
            Assert.Equal("hello from clip\ngone\nwritten\n", run.StdOut);

            // The container's write went to the upper dir; the image's 24 MiB file was never fetched.
            Assert.Equal("written\n", await File.ReadAllTextAsync(_dir.Combine("root", "containers", cid, "upper", "tmp", "x")));
            long cached = Directory.EnumerateFiles(_dir.Combine("root", "cache"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
            Assert.True(cached < Big.Length / 4, $"{cached} bytes fetched and cached to run busybox; the image has {Big.Length} more");
            Assert.True(cached > 500_000, $"only {cached} bytes cached: busybox itself must have been read");
        }
        finally
        {
            await Proc.RunAsync("runc", ["delete", "--force", cid]);
            var u = await Proc.RunAsync(Clipctl, ["umount", "--cid", cid, .. Common], TimeSpan.FromMinutes(1));
            Assert.True(u.ExitCode == 0, u.StdErr);
        }
        Assert.Empty(MountInfo.MountPointsUnder(_dir.Combine("run")));
        Assert.True(await ExitedAsync(pid), "the container's server exited");
        Assert.False(Directory.Exists(_dir.Combine("run", cid)));
        Assert.False(Directory.Exists(_dir.Combine("root", "containers", cid)));
        var again = await Proc.RunAsync(Clipctl, ["umount", "--cid", cid, .. Common]);
        Assert.Equal(1, again.ExitCode);
    }

    [FuseOverlayFsFact]
    public async Task Container_mode_falls_back_to_fuse_overlayfs()
    {
        string cid = "clip-fo-" + Guid.NewGuid().ToString("N")[..6];
        var m = await Proc.RunAsync(Clipctl, ["mount", _index, "--cid", cid, "--overlay", "fuse-overlayfs", "--background", .. Common], TimeSpan.FromMinutes(2));
        Assert.True(m.ExitCode == 0, m.StdErr);
        string rootfs = m.StdOut.Trim();
        try
        {
            Assert.Equal("fuse.fuse-overlayfs", MountInfo.Find(rootfs)!.FileSystemType);
            Assert.Equal("hello from clip\n", await File.ReadAllTextAsync(Path.Combine(rootfs, "etc/motd")));
            Assert.False(File.Exists(Path.Combine(rootfs, "etc/gone")));
            await File.WriteAllTextAsync(Path.Combine(rootfs, "tmp/y"), "y");
            Assert.True(File.Exists(_dir.Combine("root", "containers", cid, "upper", "tmp", "y")));
        }
        finally
        {
            var u = await Proc.RunAsync(Clipctl, ["umount", "--cid", cid, .. Common], TimeSpan.FromMinutes(1));
            Assert.True(u.ExitCode == 0, u.StdErr);
        }
        Assert.Empty(MountInfo.MountPointsUnder(_dir.Combine("run")));
    }
}

/// <summary>A root fact that also needs fuse-overlayfs (apt-get install fuse-overlayfs).</summary>
public sealed class FuseOverlayFsFactAttribute : FactAttribute
{
    public FuseOverlayFsFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess && Environment.GetEnvironmentVariable("CLIP_REQUIRE_PRIVILEGED_TESTS") != "1")
            Skip = "needs root";
        else if (!File.Exists("/usr/bin/fuse-overlayfs"))
            Skip = "needs fuse-overlayfs (apt-get install fuse-overlayfs)";
    }
}
