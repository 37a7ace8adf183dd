using Clip.Bench;

// clip-bench: reproducible measurements behind the numbers in README.md and docs/.
//   clip-bench index LAYOUT:TAG [--runs N] [--report FILE]
return args.FirstOrDefault() switch
{
    "index" => await IndexBench.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: clip-bench index LAYOUT:TAG [--runs N] [--report FILE]");
    return 2;
}
