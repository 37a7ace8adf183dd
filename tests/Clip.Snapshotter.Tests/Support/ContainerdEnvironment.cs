using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Clip.Testing;

namespace Clip.Snapshotter.Tests.Support;

/// <summary>
/// A private containerd (own root, state and socket; CRI disabled) with clip as its
/// <c>[proxy_plugins.clip]</c>, and a CNCF distribution registry on 127.0.0.1 holding a test image
/// built from busybox-static. Everything started here is stopped on dispose.
/// </summary>
public sealed class ContainerdEnvironment : IAsyncDisposable
{
    private readonly List<Process> _processes = [];
    private readonly TempDir _dir = new("clip-ctrd");

    private ContainerdEnvironment() { }

    public string Directory => _dir.Path;
    public string ContainerdSocket => _dir.Combine("containerd.sock");
    public string ClipSocket => _dir.Combine("clip.sock");
    public string ClipRoot => _dir.Combine("clip-root");
    public string Image { get; private set; } = "";
    public string Namespace { get; } = "clip-e2e";

    /// <summary>The layers of the test image, bottom first: digest, diff id, and the directory they unpack to.</summary>
    public List<(string Digest, string DiffId, string Tree)> Layers { get; } = [];

    /// <summary>Chain ids of the image's layers, bottom first (containerd identity.ChainIDs).</summary>
    public List<string> ChainIds { get; } = [];

    public const string Greeting = "hello from a clip snapshot";

    /// <summary>Size of /data/blob.bin (random, never read by the test commands) in layer one; 0 for none.</summary>
    public int DataFileBytes { get; private init; }

    /// <summary>Sum of the layer blob sizes: the image's compressed size.</summary>
    public long CompressedSize { get; private set; }

    /// <summary>"127.0.0.1:port" of the registry holding <see cref="Image"/>.</summary>
    public string RegistryAddress => Image.Split('/')[0];

    public static string[] RequiredCommands => ["containerd", "ctr", "runc", "docker-registry", "skopeo"];

    public static void CheckPrerequisites()
    {
        var missing = RequiredCommands.Where(c => !Proc.Exists(c)).ToList();
        if (!File.Exists("/bin/busybox")) missing.Add("busybox (busybox-static)");
        if (missing.Count > 0)
            throw new InvalidOperationException("missing: " + string.Join(", ", missing) +
                " (apt-get install -y containerd runc docker-registry skopeo busybox-static)");
    }

    /// <summary>Builds and pushes the image; clip must be started on <see cref="ClipSocket"/> before <see cref="StartContainerdAsync"/>.</summary>
    public static async Task<ContainerdEnvironment> CreateAsync(int dataFileBytes = 0)
    {
        CheckPrerequisites();
        var env = new ContainerdEnvironment { DataFileBytes = dataFileBytes };
        try
        {
            await env.PublishImageAsync();
        }
        catch
        {
            await env.DisposeAsync();
            throw;
        }
        return env;
    }

    private async Task PublishImageAsync()
    {
        byte[] busybox = await File.ReadAllBytesAsync("/bin/busybox");
        var layer1 = new LayerBuilder().Dir("bin").File("bin/busybox", busybox, mode: 0b111_101_101)
            .Symlink("bin/sh", "busybox").Symlink("bin/cat", "busybox").Symlink("bin/echo", "busybox").Dir("etc").File("etc/motd", "layer one\n");
        if (DataFileBytes > 0)
        {
            var data = new byte[DataFileBytes];
            new Random(17).NextBytes(data);
            layer1.Dir("data").File("data/blob.bin", data);
        }
        var layer2 = new LayerBuilder().Dir("etc").File("etc/greeting", Greeting + "\n").Whiteout("etc/motd");
        var oci = new OciLayoutBuilder(_dir.Combine("oci"));
        var layers = new[] { OciLayoutBuilder.Layer.Gzip(layer1), OciLayoutBuilder.Layer.Gzip(layer2) };
        oci.AddImage("e2e", layers, cmd: ["/bin/cat", "/etc/greeting"]);

        // What the layers unpack to, for a lazy filesystem fake to serve (overlay whiteout convention).
        string t1 = _dir.Combine("trees", "1"), t2 = _dir.Combine("trees", "2");
        System.IO.Directory.CreateDirectory(Path.Combine(t1, "bin"));
        System.IO.Directory.CreateDirectory(Path.Combine(t1, "etc"));
        await File.WriteAllBytesAsync(Path.Combine(t1, "bin", "busybox"), busybox);
        File.SetUnixFileMode(Path.Combine(t1, "bin", "busybox"), (UnixFileMode)0b111_101_101);
        foreach (string l in new[] { "sh", "cat", "echo" }) File.CreateSymbolicLink(Path.Combine(t1, "bin", l), "busybox");
        await File.WriteAllTextAsync(Path.Combine(t1, "etc", "motd"), "layer one\n");
        System.IO.Directory.CreateDirectory(Path.Combine(t2, "etc"));
        await File.WriteAllTextAsync(Path.Combine(t2, "etc", "greeting"), Greeting + "\n");
        Clip.Interop.Libc.MkNod(Path.Combine(t2, "etc", "motd"), 0x2000, 0, 0); // S_IFCHR 0/0: whiteout
        CompressedSize = layers.Sum(l => (long)l.Blob.Length);
        Layers.Add((layers[0].Digest, layers[0].DiffId, t1));
        Layers.Add((layers[1].Digest, layers[1].DiffId, t2));
        string chain = layers[0].DiffId;
        ChainIds.Add(chain);
        chain = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(chain + " " + layers[1].DiffId)));
        ChainIds.Add(chain);

        int port = FreePort();
        string regDir = _dir.Combine("registry");
        System.IO.Directory.CreateDirectory(regDir);
        string regConfig = _dir.Combine("registry.yml");
        await File.WriteAllTextAsync(regConfig, $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {regDir}
            http:
              addr: 127.0.0.1:{port}
            """);
        _registry = Start("docker-registry", ["serve", regConfig], "registry.log");
        await WaitForTcpAsync(port);
        Image = $"127.0.0.1:{port}/clip/e2e:1";
        (await Proc.RunAsync("skopeo", ["copy", "--dest-tls-verify=false", $"oci:{_dir.Combine("oci")}:e2e", $"docker://{Image}"], TimeSpan.FromMinutes(2)))
            .EnsureSuccess("skopeo copy");
    }

    public async Task StartContainerdAsync()
    {
        string config = _dir.Combine("containerd.toml");
        await File.WriteAllTextAsync(config, $"""
            version = 2
            root = "{_dir.Combine("containerd-root")}"
            state = "{_dir.Combine("containerd-state")}"
            disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
              "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

            [grpc]
              address = "{ContainerdSocket}"

            [ttrpc]
              address = "{ContainerdSocket}.ttrpc"

            [proxy_plugins]
              [proxy_plugins.clip]
                type = "snapshot"
                address = "{ClipSocket}"
            """);
        Start("containerd", ["--config", config], "containerd.log");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var r = await Proc.RunAsync("ctr", ["--address", ContainerdSocket, "version"], TimeSpan.FromSeconds(10));
            if (r.ExitCode == 0) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"containerd did not come up: {r.StdErr}\n{Log("containerd.log")}");
            await Task.Delay(200);
        }
    }

    /// <summary>Runs <c>ctr</c> against the private containerd in the test namespace.</summary>
    public Task<Proc.Result> CtrAsync(params string[] args) =>
        Proc.RunAsync("ctr", ["--address", ContainerdSocket, "--namespace", Namespace, .. args], TimeSpan.FromMinutes(3));

    public string Log(string name) => File.Exists(_dir.Combine(name)) ? File.ReadAllText(_dir.Combine(name)) : "";

    private Process? _registry;

    /// <summary>Stops the registry (a node cut off from it, or credentials that no longer work).</summary>
    public async Task StopRegistryAsync()
    {
        if (_registry is null || _registry.HasExited) return;
        _registry.Kill(entireProcessTree: true);
        await _registry.WaitForExitAsync();
    }

    private Process Start(string file, string[] args, string log)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$0\" \"$@\" >>" + _dir.Combine(log) + " 2>&1");
        psi.ArgumentList.Add(file);
        foreach (string a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        _processes.Add(p);
        return p;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static async Task WaitForTcpAsync(int port)
    {
        for (int i = 0; i < 200; i++)
        {
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }
        throw new TimeoutException($"nothing listens on 127.0.0.1:{port}");
    }

    public async ValueTask DisposeAsync()
    {
        if (File.Exists(ContainerdSocket))
        {
            // Leave no containers, images or snapshots behind in the private containerd.
            await CtrAsync("task", "rm", "-f", "e2e-run");
        }
        foreach (var p in Enumerable.Reverse(_processes))
        {
            try
            {
                if (!p.HasExited)
                {
                    await Proc.RunAsync("kill", "-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                    try { await p.WaitForExitAsync(cts.Token); }
                    catch (OperationCanceledException) { p.Kill(entireProcessTree: true); }
                }
            }
            finally
            {
                p.Dispose();
            }
        }
        // containerd may leave its mounts (rootfs of a killed task) under its state dir.
        foreach (var mp in File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(Directory, StringComparison.Ordinal)).OrderByDescending(m => m.Length))
            Clip.Interop.Libc.TryUnmount(mp, Clip.Interop.Libc.MNT_DETACH);
        _dir.Dispose();
    }
}
