using Clip.NetBench;

// clip-netbench: the pieces of the cold-start benchmark that are better in code than in bash, and
// the lazy-read benchmark.
//   relay    a delaying TCP relay in front of the registry that counts bytes per HTTP request
//   measure  one timed pull + run (time to the first byte of output), with relay and /metrics figures
//   report   docs/benchmarks.md and the PNG chart from the measured runs
//   lazy     issue 3: bytes and latency of single-file lazy reads from a real registry
try
{
    return args.FirstOrDefault() switch
    {
        "relay" => await Clip.NetBench.Relay.RelayCommand.RunAsync(Args.Parse(args[1..])),
        "measure" => await Clip.NetBench.Measure.MeasureCommand.RunAsync(Args.Parse(args[1..])),
        "report" => await Clip.NetBench.Report.ReportCommand.RunAsync(Args.Parse(args[1..])),
        "lazy" => await Clip.NetBench.Lazy.LazyCommand.RunAsync(Args.Parse(args[1..])),
        _ => Usage(),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine($"clip-netbench: {e.Message}");
    return 2;
}

static int Usage()
{
    Console.Error.WriteLine("""
        usage:
          clip-netbench relay --listen HOST:PORT --upstream HOST:PORT --control HOST:PORT [--rtt-ms MS]
          clip-netbench measure --out FILE --control HOST:PORT [--metrics URL] [--pull CMD] --run CMD [--label K=V]...
          clip-netbench report --results DIR --params FILE --md FILE --png FILE
          clip-netbench lazy [--size-mb 224] [--files 12] [--span-mib 4] [--work DIR] [--report FILE]
        """);
    return 2;
}
