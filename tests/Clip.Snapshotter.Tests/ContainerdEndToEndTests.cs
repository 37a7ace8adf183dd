using Clip.Snapshots.Tests.Fakes;
using Clip.Snapshotter.Tests.Support;
using Clip.Testing;
using Grpc.Core;
using Proto = Clip.Snapshotter.Protos.Snapshots;

namespace Clip.Snapshotter.Tests;

/// <summary>
/// The real containerd 1.6 (Debian's) with clip as a proxy snapshotter: pull from a local registry and
/// run a container with runc. Needs root, containerd, runc, docker-registry, skopeo, busybox-static.
/// </summary>
public class ContainerdEndToEndTests
{
    [RootFact]
    public async Task Pull_and_run_with_normal_snapshots_the_fallback_path()
    {
        await using var env = await ContainerdEnvironment.CreateAsync();
        await using var clip = await DaemonProcess.StartAsync(env.ClipRoot, env.ClipSocket);
        await env.StartContainerdAsync();

        var pull = await env.CtrAsync("image", "pull", "--plain-http", "--snapshotter", "clip", env.Image);
        Assert.True(pull.ExitCode == 0, $"ctr pull: {pull.StdErr}{pull.StdOut}\n{clip.Output}");

        var run = await env.CtrAsync("run", "--snapshotter", "clip", "--rm", env.Image, "e2e-run", "/bin/sh", "-c",
            "cat /etc/greeting; test -e /etc/motd && echo motd-visible || echo motd-whited-out");
        Assert.True(run.ExitCode == 0, $"ctr run: {run.StdErr}{run.StdOut}\n{env.Log("containerd.log")}");
        Assert.Equal($"{ContainerdEnvironment.Greeting}\nmotd-whited-out\n", run.StdOut.Replace("\r", ""));

        // containerd unpacked both layers into clip snapshots it committed itself (backend names "ns/N/<chain id>").
        var (channel, client) = SnapshotsClient.Connect(env.ClipSocket);
        using (channel)
        {
            using var list = client.List(new Proto.ListSnapshotsRequest { Filters = { "kind==committed" } });
            var committed = new List<Proto.Info>();
            while (await list.ResponseStream.MoveNext()) committed.AddRange(list.ResponseStream.Current.Info);
            Assert.Equal(env.ChainIds.Order(), committed.Select(i => i.Name.Split('/').Last()).Order());
            Assert.All(committed, i => Assert.StartsWith(env.Namespace + "/", i.Name));
            Assert.DoesNotContain(committed, i => i.Labels.ContainsKey("containerd.io/snapshot/remote"));
        }

        Assert.Equal(0, (await env.CtrAsync("image", "rm", "--sync", env.Image)).ExitCode);
    }

    [RootFact]
    public async Task Pull_through_the_remote_flow_skips_unpacking_and_runs_on_lazily_served_layers()
    {
        await using var env = await ContainerdEnvironment.CreateAsync();
        if (!Proc.Exists("ctr-remote")) throw new InvalidOperationException("missing: ctr-remote (apt-get install -y stargz-snapshotter)");
        // The lazy side is a fake here: it knows the image's layers by digest and bind-mounts their
        // trees read-only, as the FUSE filesystem will.
        using var fs = new FakeRemoteLayerFileSystem { UseBindMounts = true };
        for (int i = 0; i < env.Layers.Count; i++)
        {
            fs.AddLayerDirectory(env.Layers[i].Digest, env.Layers[i].Tree);
            fs.AddResolvable(env.ChainIds[i], env.Layers[i].Digest);
        }
        await using var clip = await InProcessDaemon.StartAsync(env.Directory + "/inproc", fs);
        File.CreateSymbolicLink(env.ClipSocket, clip.Host.Config.Socket);
        await env.StartContainerdAsync();

        // ctr-remote's rpull unpacks with the image labels (containerd.io/snapshot/remote/stargz.*) on Prepare.
        var pull = await Proc.RunAsync("ctr-remote", ["--address", env.ContainerdSocket, "--namespace", env.Namespace,
            "image", "rpull", "--plain-http", "--snapshotter", "clip", env.Image], TimeSpan.FromMinutes(3));
        Assert.True(pull.ExitCode == 0, $"ctr-remote rpull: {pull.StdErr}{pull.StdOut}\n{env.Log("containerd.log")}");
        Assert.Equal(2, fs.Mounted.Count);
        // The filesystem is asked for layers by layer digest (from the labels), one mount per layer.
        Assert.All(fs.Calls.Where(c => c.StartsWith("mount ", StringComparison.Ordinal)),
            c => Assert.Contains(env.Layers, l => c.StartsWith($"mount {l.Digest} ", StringComparison.Ordinal)));
        Assert.Equal(2, clip.Host.Snapshotter.RemoteStatistics.Served);

        var run = await env.CtrAsync("run", "--snapshotter", "clip", "--rm", env.Image, "e2e-run");
        Assert.True(run.ExitCode == 0, $"ctr run: {run.StdErr}{run.StdOut}\n{env.Log("containerd.log")}");
        Assert.Equal($"{ContainerdEnvironment.Greeting}\n", run.StdOut.Replace("\r", ""));

        // containerd's own view: the layers are clip's remote snapshots, shared under their chain ids.
        var snaps = await env.CtrAsync("snapshot", "--snapshotter", "clip", "ls");
        Assert.All(env.ChainIds, c => Assert.Contains(c, snaps.StdOut));
        Assert.Equal(0, (await env.CtrAsync("image", "rm", "--sync", env.Image)).ExitCode);
    }
}
