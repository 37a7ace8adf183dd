using Clip.Snapshotter.Tests.Support;
using Clip.Testing;
using Grpc.Core;
using Proto = Clip.Snapshotter.Protos.Snapshots;

namespace Clip.Snapshotter.Tests;

/// <summary>The clip-snapshotter binary: signals, sockets, exit codes.</summary>
public class DaemonProcessTests
{
    [Fact]
    public async Task Sigterm_stops_gracefully_and_a_stale_socket_is_replaced_on_the_next_start()
    {
        using var dir = new TempDir("clip-p");
        string socket = dir.Combine("run", "clip.sock");
        await using (var d = await DaemonProcess.StartAsync(dir.Combine("root"), socket))
        {
            var (channel, client) = SnapshotsClient.Connect(socket);
            using (channel)
                await client.PrepareAsync(new Proto.PrepareSnapshotRequest { Key = "a" });
            Assert.Equal(0, await d.TerminateAsync());
            Assert.Contains("stopped", d.Output);
        }

        // SIGKILL leaves the socket file behind; the next start must not trip over it.
        await using (var d = await DaemonProcess.StartAsync(dir.Combine("root"), socket))
            await d.KillAsync();
        Assert.True(File.Exists(socket));
        await using var d3 = await DaemonProcess.StartAsync(dir.Combine("root"), socket);
        Assert.Contains("Removed stale socket", d3.Output);
        var (ch, cl) = SnapshotsClient.Connect(socket);
        using (ch)
            Assert.Equal(Proto.Kind.Active, (await cl.StatAsync(new Proto.StatSnapshotRequest { Key = "a" })).Info.Kind);
    }

    [Fact]
    public async Task A_bad_configuration_exits_2_with_the_reason()
    {
        using var dir = new TempDir("clip-p");
        File.WriteAllText(dir.Combine("c.toml"), "log_levle = \"info\"\n");
        var r = await Proc.RunAsync("dotnet", [DaemonProcess.DllPath, "--config", dir.Combine("c.toml")], TimeSpan.FromSeconds(60));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("log_levle", r.StdErr);
    }
}
