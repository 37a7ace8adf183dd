using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Clip.Content;
using Clip.Index.Build;
using Clip.Oci;
using Clip.Registry;
using Clip.Snapshotter.Tests.Support;
using Clip.Testing;

namespace Clip.Snapshotter.Tests;

/// <summary>
/// The real lazy path: containerd 1.6 + runc + docker-registry + the clip-snapshotter binary with its
/// FUSE layer trees. Needs root; CI runs it.
/// </summary>
public class LazyPullTests
{
    private const string RunCommand = "cat /etc/greeting; test -e /etc/motd && echo motd-visible || echo motd-whited-out";
    private static readonly string Expected = $"{ContainerdEnvironment.Greeting}\nmotd-whited-out\n";

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Indexes the image and stores the index in its registry, as `clipctl index --image REF --push` does.</summary>
    private static async Task PushIndexAsync(ContainerdEnvironment env, string storeDir)
    {
        using var client = new RegistryClient();
        var provider = new ImageIndexProvider(client, new IndexStore(storeDir), new LayerIndexOptions { SpanSize = 256 * 1024 });
        var image = await provider.GetImageAsync(Reference.Parse(env.Image));
        await RegistryIndexes.PushAsync(client, image.Resolved.Repository, image.Resolved.ManifestDescriptor, image.Image, image.Layers);
    }

    private static async Task<double> MetricAsync(string address, string name)
    {
        using var http = new HttpClient();
        string text = await http.GetStringAsync($"http://{address}/metrics");
        return text.Split('\n').Where(l => l.StartsWith(name, StringComparison.Ordinal) && (l.Length == name.Length || l[name.Length] is ' ' or '{'))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Runs a containerd client command, retrying while containerd's connection to a just-restarted clip
    /// is still in its reconnect backoff (what kubelet's retries do).
    /// </summary>
    private static async Task<Proc.Result> RetryWhileUnavailableAsync(Func<Task<Proc.Result>> command)
    {
        Proc.Result result = null!;
        for (int attempt = 0; attempt < 15; attempt++)
        {
            result = await command();
            if (result.ExitCode == 0 || !result.StdErr.Contains("unavailable", StringComparison.OrdinalIgnoreCase)) break;
            await Task.Delay(1000);
        }
        return result;
    }

    /// <summary>`ctr-remote image rpull --snapshotter clip`: a pull that passes the image labels on every layer's Prepare.</summary>
    private static Task<Proc.Result> RpullAsync(ContainerdEnvironment env, string ns) =>
        Proc.RunAsync("ctr-remote", ["--address", env.ContainerdSocket, "--namespace", ns, "image", "rpull", "--plain-http", "--snapshotter", "clip", env.Image], TimeSpan.FromMinutes(3));

    private static List<string> ClipMounts() =>
        File.ReadAllLines("/proc/self/mountinfo").Where(l => l.Contains(" fuse.clip ")).Select(l => l.Split(' ')[4]).ToList();

    private static async Task<List<(string Name, Dictionary<string, string> Labels)>> CommittedAsync(ContainerdEnvironment env)
    {
        var (channel, client) = SnapshotsClient.Connect(env.ClipSocket);
        using (channel)
        {
            using var list = client.List(new Protos.Snapshots.ListSnapshotsRequest { Filters = { "kind==committed" } });
            var result = new List<(string, Dictionary<string, string>)>();
            while (await list.ResponseStream.MoveNext(CancellationToken.None))
                result.AddRange(list.ResponseStream.Current.Info.Select(i => (i.Name, i.Labels.ToDictionary(kv => kv.Key, kv => kv.Value))));
            return result;
        }
    }

    [RootFact]
    public async Task Rpull_and_run_serve_every_layer_lazily_without_downloading_a_layer()
    {
        await using var env = await ContainerdEnvironment.CreateAsync(dataFileBytes: 16 << 20);
        Assert.True(Proc.Exists("ctr-remote"), "ctr-remote missing (apt-get install -y stargz-snapshotter)");
        await PushIndexAsync(env, Path.Combine(env.Directory, "ci-store"));
        string metrics = $"127.0.0.1:{FreePort()}";
        await using var clip = await DaemonProcess.StartAsync(env.ClipRoot, env.ClipSocket, metricsAddress: metrics);
        await env.StartContainerdAsync();

        var pull = await RpullAsync(env, env.Namespace);
        Assert.True(pull.ExitCode == 0, $"rpull: {pull.StdErr}{pull.StdOut}\n{clip.Output}");
        var run = await env.CtrAsync("run", "--snapshotter", "clip", "--rm", env.Image, "e2e-run", "/bin/sh", "-c", RunCommand);
        Assert.True(run.ExitCode == 0, $"ctr run: {run.StdErr}{run.StdOut}\n{clip.Output}\n{env.Log("containerd.log")}");
        Assert.Equal(Expected, run.StdOut.Replace("\r", ""));

        // Every layer was committed by clip itself and is served over FUSE.
        var committed = await CommittedAsync(env);
        Assert.Equal(env.ChainIds.Order(), committed.Select(c => c.Name.Split('/').Last()).Order());
        Assert.All(committed, c => Assert.True(c.Labels.ContainsKey("containerd.io/snapshot/remote"), c.Name));
        Assert.True(ClipMounts().Count(m => m.StartsWith(env.ClipRoot, StringComparison.Ordinal)) >= env.Layers.Count);

        // containerd never downloaded a layer: its content store has the manifest and config only.
        var content = await env.CtrAsync("content", "ls", "-q");
        foreach (var (digest, _, _) in env.Layers) Assert.DoesNotContain(digest, content.StdOut);

        // What clip fetched is counted, and far below the image size (the 16 MiB data file was never read).
        double fetched = await MetricAsync(metrics, "clip_content_fetched_bytes_total");
        Assert.True(fetched > 0, "clip counted no fetched bytes");
        Assert.True(fetched < env.CompressedSize / 4.0, $"fetched {fetched} of {env.CompressedSize}");
        Assert.True(await MetricAsync(metrics, "clip_fuse_operations_total") > 0);
        Assert.Equal(0, await MetricAsync(metrics, "clip_content_verification_failures_total"));
    }

    [RootFact]
    public async Task Without_image_labels_a_known_chain_id_is_served_lazily()
    {
        await using var env = await ContainerdEnvironment.CreateAsync();
        // `clipctl index --image REF` on the node (default root shared with the daemon) makes the chain IDs known.
        using (var client = new RegistryClient())
        {
            var provider = new ImageIndexProvider(client, new IndexStore(Path.Combine(env.ClipRoot, "indexes")), new LayerIndexOptions());
            await provider.GetImageAsync(Reference.Parse(env.Image));
        }
        string pullunpack = await PullUnpackTool.BinaryAsync();
        await using var clip = await DaemonProcess.StartAsync(env.ClipRoot, env.ClipSocket);
        await env.StartContainerdAsync();
        // containerd's client unpacker (what nerdctl uses) sends only containerd.io/snapshot.ref on Prepare.
        var pull = await Proc.RunAsync(pullunpack, ["--address", env.ContainerdSocket, "--namespace", env.Namespace, "--plain-http", env.Image], TimeSpan.FromMinutes(3));
        Assert.True(pull.ExitCode == 0, $"pull: {pull.StdErr}{pull.StdOut}\n{clip.Output}");
        var run = await env.CtrAsync("run", "--snapshotter", "clip", "--rm", env.Image, "e2e-run", "/bin/sh", "-c", RunCommand);
        Assert.True(run.ExitCode == 0, $"ctr run: {run.StdErr}{run.StdOut}\n{clip.Output}");
        Assert.Equal(Expected, run.StdOut.Replace("\r", ""));
        var committed = await CommittedAsync(env);
        Assert.All(committed, c => Assert.True(c.Labels.ContainsKey("containerd.io/snapshot/remote"), $"{c.Name} was unpacked, not served\n{clip.Output}"));
    }

    [RootFact]
    public async Task A_layer_nobody_indexed_is_indexed_by_the_daemon_and_still_served_lazily()
    {
        await using var env = await ContainerdEnvironment.CreateAsync();
        await using var clip = await DaemonProcess.StartAsync(env.ClipRoot, env.ClipSocket);
        await env.StartContainerdAsync();
        var pull = await RpullAsync(env, env.Namespace);
        Assert.True(pull.ExitCode == 0, $"rpull: {pull.StdErr}{pull.StdOut}\n{clip.Output}");
        var run = await env.CtrAsync("run", "--snapshotter", "clip", "--rm", env.Image, "e2e-run", "/bin/sh", "-c", RunCommand);
        Assert.True(run.ExitCode == 0, $"ctr run: {run.StdErr}{run.StdOut}\n{clip.Output}");
        Assert.Equal(Expected, run.StdOut.Replace("\r", ""));
        Assert.All(await CommittedAsync(env), c => Assert.True(c.Labels.ContainsKey("containerd.io/snapshot/remote")));
        Assert.True(Directory.EnumerateFiles(Path.Combine(env.ClipRoot, "indexes", "layers"), "*.clip", SearchOption.AllDirectories).Count() == env.Layers.Count);
    }

    [RootFact]
    public async Task A_restart_restores_layer_trees_without_the_registry()
    {
        await using var env = await ContainerdEnvironment.CreateAsync();
        await PushIndexAsync(env, Path.Combine(env.Directory, "ci-store"));
        var clip = await DaemonProcess.StartAsync(env.ClipRoot, env.ClipSocket);
        try
        {
            await env.StartContainerdAsync();
            var pull = await RpullAsync(env, env.Namespace);
            Assert.True(pull.ExitCode == 0, pull.StdErr);
            var run = await env.CtrAsync("run", "--snapshotter", "clip", "--rm", env.Image, "e2e-run", "/bin/sh", "-c", RunCommand);
            Assert.True(run.ExitCode == 0, $"run: {run.StdErr}{run.StdOut}\n{clip.Output}");
            Assert.Equal(Expected, run.StdOut.Replace("\r", ""));
            Assert.Equal(0, await clip.TerminateAsync());
        }
        finally
        {
            await clip.DisposeAsync();
        }

        // The registry is gone (unreachable, or credentials expired): the restart must not depend on it.
        await env.StopRegistryAsync();
        await using var restarted = await DaemonProcess.StartAsync(env.ClipRoot, env.ClipSocket);
        for (int i = 0; i < 50 && !restarted.Output.Contains("Restored remote layer", StringComparison.Ordinal); i++) await Task.Delay(100);
        Assert.Contains("Restored remote layer", restarted.Output);
        var mounts = ClipMounts().Where(m => m.StartsWith(env.ClipRoot, StringComparison.Ordinal)).ToList();
        Assert.Equal(env.Layers.Count, mounts.Count);
        // Trees and already-cached bytes are served without the registry.
        Assert.All(mounts, m => Assert.NotEmpty(Directory.EnumerateFileSystemEntries(m)));
        var again = await RetryWhileUnavailableAsync(() => env.CtrAsync("run", "--snapshotter", "clip", "--rm", env.Image, "e2e-run2", "/bin/sh", "-c", RunCommand));
        Assert.True(again.ExitCode == 0, $"run after restart without registry: {again.StdErr}{again.StdOut}\n{restarted.Output}");
        Assert.Equal(Expected, again.StdOut.Replace("\r", ""));
    }

    [RootFact]
    public async Task Killed_mid_pull_and_restarted_the_retried_pull_succeeds_and_nothing_leaks()
    {
        await using var env = await ContainerdEnvironment.CreateAsync(dataFileBytes: 4 << 20);
        await PushIndexAsync(env, Path.Combine(env.Directory, "ci-store"));
        var clip = await DaemonProcess.StartAsync(env.ClipRoot, env.ClipSocket);
        try
        {
            await env.StartContainerdAsync();
            // A first image pulled and a container created from it: its snapshots must survive the crash.
            var first = await RpullAsync(env, env.Namespace);
            Assert.True(first.ExitCode == 0, first.StdErr);
            // (no "-c" in the command: `ctr container create` would take it for its own --config)
            var create = await env.CtrAsync("container", "create", "--snapshotter", "clip", env.Image, "survivor", "/bin/cat", "/etc/greeting");
            Assert.True(create.ExitCode == 0, $"container create: {create.StdErr}{create.StdOut}");

            // Pull again in another namespace and kill the daemon while that pull mounts layers.
            var pulling = RpullAsync(env, env.Namespace + "-2");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!File.ReadAllText("/proc/self/mountinfo").Contains(env.Namespace + "-2") && ClipMounts().Count < 4 && DateTime.UtcNow < deadline && !pulling.IsCompleted)
                await Task.Delay(20);
            await clip.KillAsync();
            await pulling; // fails or succeeds depending on where the kill landed; either is fine
        }
        finally
        {
            await clip.DisposeAsync();
        }

        // Dead FUSE sessions may remain in the mount table; the restarted daemon detaches and re-serves.
        await using var restarted = await DaemonProcess.StartAsync(env.ClipRoot, env.ClipSocket);
        // containerd's connection to the proxy plugin reconnects with backoff; pulls are retried as kubelet would.
        var retry = await RetryWhileUnavailableAsync(() => RpullAsync(env, env.Namespace + "-2"));
        Assert.True(retry.ExitCode == 0, $"retried rpull: {retry.StdErr}{retry.StdOut}\n{restarted.Output}");
        var run = await Proc.RunAsync("ctr", ["--address", env.ContainerdSocket, "--namespace", env.Namespace + "-2", "run", "--snapshotter", "clip", "--rm", env.Image, "after-crash", "/bin/sh", "-c", RunCommand], TimeSpan.FromMinutes(2));
        Assert.True(run.ExitCode == 0, $"run after restart: {run.StdErr}{run.StdOut}\n{restarted.Output}");
        Assert.Equal(Expected, run.StdOut.Replace("\r", ""));

        // The container created before the crash still starts: its snapshot and the layer trees under it are back.
        var survivor = await env.CtrAsync("task", "start", "survivor");
        Assert.True(survivor.ExitCode == 0, $"survivor: {survivor.StdErr}{survivor.StdOut}\n{restarted.Output}");
        Assert.Equal($"{ContainerdEnvironment.Greeting}\n", survivor.StdOut.Replace("\r", ""));
        await env.CtrAsync("task", "rm", "-f", "survivor");
        await env.CtrAsync("container", "rm", "survivor");

        // Nothing leaked: every live clip mount answers, and snapshot directories match the metadata.
        foreach (var mp in ClipMounts().Where(m => m.StartsWith(env.ClipRoot, StringComparison.Ordinal)))
            Assert.True(Directory.Exists(mp) && Directory.EnumerateFileSystemEntries(mp).Any(), $"dead or empty layer mount {mp}");
        var snapshotDirs = Directory.GetDirectories(Path.Combine(env.ClipRoot, "snapshots")).Select(Path.GetFileName).ToList();
        Assert.DoesNotContain(snapshotDirs, d => d!.StartsWith('.') || d.Contains("tmp", StringComparison.Ordinal));
    }
}
