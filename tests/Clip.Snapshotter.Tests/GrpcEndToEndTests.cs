using Clip.Snapshots.Remote;
using Clip.Snapshots.Tests.Fakes;
using Clip.Snapshotter.Tests.Support;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Proto = Clip.Snapshotter.Protos.Snapshots;

namespace Clip.Snapshotter.Tests;

/// <summary>The Snapshots service over the unix socket, with Grpc.Net.Client, as containerd's proxy uses it.</summary>
public class GrpcEndToEndTests
{
    private static Proto.PrepareSnapshotRequest Prepare(string key, string parent = "", Dictionary<string, string>? labels = null)
    {
        var r = new Proto.PrepareSnapshotRequest { Snapshotter = "clip", Key = key, Parent = parent };
        if (labels is not null) r.Labels.Add(labels);
        return r;
    }

    private static async Task<StatusCode> CodeOf(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        return e.StatusCode;
    }

    [Fact]
    public async Task A_layer_lifecycle_over_the_wire()
    {
        await using var d = await InProcessDaemon.StartAsync();
        var c = d.Client;
        var prep = await c.PrepareAsync(Prepare("extract", labels: new() { ["containerd.io/snapshot.ref"] = "sha256:c1" }));
        var mount = Assert.Single(prep.Mounts);
        Assert.Equal("bind", mount.Type);
        Assert.Equal(["rw", "rbind"], mount.Options);
        await File.WriteAllTextAsync(Path.Combine(mount.Source, "hello"), "world");

        await c.CommitAsync(new Proto.CommitSnapshotRequest { Name = "sha256:c1", Key = "extract", Labels = { ["l"] = "1" } });
        var stat = await c.StatAsync(new Proto.StatSnapshotRequest { Key = "sha256:c1" });
        Assert.Equal(Proto.Kind.Committed, stat.Info.Kind);
        Assert.Equal("1", stat.Info.Labels["l"]);
        Assert.Equal(stat.Info.CreatedAt, stat.Info.UpdatedAt);
        Assert.True((await c.UsageAsync(new Proto.UsageRequest { Key = "sha256:c1" })).Size > 0);

        var view = await c.ViewAsync(new Proto.ViewSnapshotRequest { Key = "v", Parent = "sha256:c1" });
        Assert.Equal(new[] { "ro", "rbind" }, Assert.Single(view.Mounts).Options);
        var ctr = await c.PrepareAsync(Prepare("ctr", "sha256:c1"));
        Assert.Equal("overlay", Assert.Single(ctr.Mounts).Type);
        Assert.Equal(ctr.Mounts, (await c.MountsAsync(new Proto.MountsRequest { Key = "ctr" })).Mounts);

        var upd = await c.UpdateAsync(new Proto.UpdateSnapshotRequest
        {
            Info = new Proto.Info { Name = "sha256:c1", Labels = { ["l"] = "2", ["m"] = "3" } },
            UpdateMask = new FieldMask { Paths = { "labels.l" } },
        });
        Assert.Equal(new Dictionary<string, string> { ["l"] = "2" }, upd.Info.Labels);
        Assert.True(upd.Info.UpdatedAt > upd.Info.CreatedAt);

        await c.RemoveAsync(new Proto.RemoveSnapshotRequest { Key = "ctr" });
        await c.RemoveAsync(new Proto.RemoveSnapshotRequest { Key = "v" });
        await c.RemoveAsync(new Proto.RemoveSnapshotRequest { Key = "sha256:c1" });
        await c.CleanupAsync(new Proto.CleanupRequest());
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(d.Root, "snapshots")));
    }

    [Fact]
    public async Task Errors_arrive_as_containerd_status_codes()
    {
        await using var d = await InProcessDaemon.StartAsync();
        var c = d.Client;
        await c.PrepareAsync(Prepare("a"));
        Assert.Equal(StatusCode.AlreadyExists, await CodeOf(() => c.PrepareAsync(Prepare("a")).ResponseAsync));
        Assert.Equal(StatusCode.NotFound, await CodeOf(() => c.StatAsync(new Proto.StatSnapshotRequest { Key = "nope" }).ResponseAsync));
        Assert.Equal(StatusCode.NotFound, await CodeOf(() => c.PrepareAsync(Prepare("b", "nope")).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await CodeOf(() => c.PrepareAsync(Prepare("b", "a")).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await CodeOf(() => c.UpdateAsync(new Proto.UpdateSnapshotRequest
        {
            Info = new Proto.Info { Name = "a" },
            UpdateMask = new FieldMask { Paths = { "parent" } },
        }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await CodeOf(async () =>
        {
            using var call = c.List(new Proto.ListSnapshotsRequest { Filters = { "kind==" } });
            await call.ResponseStream.MoveNext();
        }));
        await c.CommitAsync(new Proto.CommitSnapshotRequest { Name = "c", Key = "a" });
        await c.PrepareAsync(Prepare("child", "c"));
        Assert.Equal(StatusCode.FailedPrecondition, await CodeOf(() => c.RemoveAsync(new Proto.RemoveSnapshotRequest { Key = "c" }).ResponseAsync));
        Assert.Equal(StatusCode.FailedPrecondition, await CodeOf(() => c.MountsAsync(new Proto.MountsRequest { Key = "c" }).ResponseAsync));
    }

    [Fact]
    public async Task List_streams_in_batches_and_filters()
    {
        await using var d = await InProcessDaemon.StartAsync();
        var c = d.Client;
        for (int i = 0; i < 230; i++)
            await c.PrepareAsync(Prepare($"s{i}", labels: new() { ["even"] = (i % 2 == 0).ToString() }));
        using var all = c.List(new Proto.ListSnapshotsRequest());
        var batches = new List<int>();
        while (await all.ResponseStream.MoveNext()) batches.Add(all.ResponseStream.Current.Info.Count);
        Assert.Equal([100, 100, 30], batches);

        using var some = c.List(new Proto.ListSnapshotsRequest { Filters = { "labels.even==True,name~=^s1", "name==s7" } });
        var names = new List<string>();
        while (await some.ResponseStream.MoveNext()) names.AddRange(some.ResponseStream.Current.Info.Select(i => i.Name));
        Assert.Contains("s7", names);
        Assert.All(names.Where(n => n != "s7"), n => Assert.StartsWith("s1", n));
        Assert.Equal(1 + 5 + 50, names.Count); // s7, the even s1x, the even s1xx
    }

    [Fact]
    public async Task The_remote_flow_over_the_wire_and_across_a_restart()
    {
        using var tmp = new Clip.Testing.TempDir("clip-d");
        var fs = new FakeRemoteLayerFileSystem();
        fs.AddLayer("sha256:l1", new Dictionary<string, string> { ["bin/sh"] = "#!" });
        await using (var d = await InProcessDaemon.StartAsync(tmp.Path, fs))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => d.Client.PrepareAsync(Prepare("ns/1/extract", labels: CriLabels.For("sha256:c1", "sha256:l1"))).ResponseAsync);
            Assert.Equal(StatusCode.AlreadyExists, e.StatusCode);
            // containerd's metadata layer looks the target up with this filter:
            using var list = d.Client.List(new Proto.ListSnapshotsRequest { Filters = { "labels.\"containerd.io/snapshot.ref\"==sha256:c1,parent==\"\"" } });
            Assert.True(await list.ResponseStream.MoveNext());
            var info = Assert.Single(list.ResponseStream.Current.Info);
            Assert.Equal(("sha256:c1", Proto.Kind.Committed), (info.Name, info.Kind));
            Assert.Equal(RemoteLabels.RemoteValue, info.Labels[RemoteLabels.Remote]);
            await d.Client.PrepareAsync(Prepare("ns/2/ctr", "sha256:c1"));
        }
        fs.Dispose();

        using var fs2 = new FakeRemoteLayerFileSystem();
        fs2.AddLayer("sha256:l1", new Dictionary<string, string> { ["bin/sh"] = "#!" });
        await using var d2 = await InProcessDaemon.StartAsync(tmp.Path, fs2);
        string mountpoint = Assert.Single(fs2.Mounted.Keys);
        var m = await d2.Client.MountsAsync(new Proto.MountsRequest { Key = "ns/2/ctr" });
        Assert.Contains(Assert.Single(m.Mounts).Options, o => o == "lowerdir=" + mountpoint || o.EndsWith(mountpoint, StringComparison.Ordinal));
        Assert.Equal("#!", File.ReadAllText(Path.Combine(mountpoint, "bin/sh")));
    }

    [Fact]
    public async Task The_socket_is_private_and_a_second_daemon_on_it_is_refused()
    {
        await using var d = await InProcessDaemon.StartAsync();
        string socket = d.Host.Config.Socket;
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(socket)!));
        using var other = new Clip.Testing.TempDir("clip-d2");
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => Clip.Snapshotter.Hosting.SnapshotterHost.StartAsync(
            new Configuration.ClipConfig { RootDir = other.Path, Socket = socket, LogLevel = "error" }));
        Assert.Contains("another process", e.Message);
    }

    [Fact]
    public async Task Metrics_count_calls_by_method_and_code_and_snapshots_by_kind()
    {
        int port;
        using (var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        }
        await using var d = await InProcessDaemon.StartAsync(metricsAddress: $"127.0.0.1:{port}");
        await d.Client.PrepareAsync(Prepare("a"));
        await Assert.ThrowsAsync<RpcException>(() => d.Client.PrepareAsync(Prepare("a")).ResponseAsync);
        using var http = new HttpClient();
        string text = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
        Assert.Contains("clip_snapshotter_grpc_requests_total{method=\"Prepare\",code=\"OK\"} 1", text);
        Assert.Contains("clip_snapshotter_grpc_requests_total{method=\"Prepare\",code=\"AlreadyExists\"} 1", text);
        Assert.Contains("clip_snapshotter_snapshots{kind=\"active\"} 1", text);
        Assert.DoesNotContain("snapshots/", text); // no paths or keys as label values
    }
}
