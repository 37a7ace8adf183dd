using Clip.Snapshotter.Configuration;
using Clip.Snapshotter.Hosting;

// clip-snapshotter: containerd remote snapshotter daemon. See packaging/config.toml and
// containerd-config.toml.example for how containerd is pointed at it.
try
{
    var commandLine = CommandLine.Parse(args);
    if (commandLine.Help)
    {
        Console.WriteLine(CommandLine.Usage);
        return 0;
    }
    var config = commandLine.Resolve();
    await using var host = await SnapshotterHost.StartAsync(config, services => LazyServices.Register(services, config));
    await host.WaitForShutdownAsync();
    return 0;
}
catch (ConfigException e)
{
    Console.Error.WriteLine($"clip-snapshotter: {e.Message}");
    Console.Error.WriteLine(CommandLine.Usage);
    return 2;
}
catch (Exception e) when (e is InvalidDataException or InvalidOperationException or IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"clip-snapshotter: cannot start: {e.Message}");
    return 1;
}
