using System.Globalization;
using System.Runtime.InteropServices;

namespace Clip.NetBench.Relay;

/// <summary><c>clip-netbench relay</c>: run the delaying, counting relay until SIGTERM/SIGINT.</summary>
public static class RelayCommand
{
    public static async Task<int> RunAsync(Args args)
    {
        var listen = Args.Endpoint(args.Require("listen"));
        var upstream = Args.Endpoint(args.Require("upstream"));
        var control = Args.Endpoint(args.Require("control"));
        double rttMs = args.Double("rtt-ms", 0);
        bool quiet = args.Flag("quiet");
        args.CheckAllUsed();
        if (rttMs < 0) throw new UsageException("--rtt-ms must not be negative");

        var oneWay = TimeSpan.FromMilliseconds(rttMs / 2);
        var log = new TrafficLog(oneWay, quiet ? null : Console.Out);
        await using var relay = new DelayRelay(listen, upstream, oneWay, log) { OnError = m => Console.Error.WriteLine($"relay: {m}") };
        await using var server = new ControlServer(control, log);
        relay.Start();
        server.Start();

        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"relay {relay.LocalEndpoint} -> {upstream}, one-way delay {oneWay.TotalMilliseconds} ms (RTT {rttMs} ms); control http://{server.LocalEndpoint}/stats; ready"));
        await stop.Task;
        var final = log.Snapshot();
        Console.WriteLine($"relay stopping: {final.BytesDown} bytes down, {final.BytesUp} up since the last reset");
        return 0;
    }
}
