namespace Clip.Snapshotter.Configuration;

/// <summary>
/// <c>clip-snapshotter [--config FILE] [--root DIR] [--socket PATH] [--log-level LEVEL] [--metrics-address HOST:PORT]</c>.
/// Flags override the file; without <c>--config</c> the default file is read when present.
/// </summary>
public sealed record CommandLine(string ConfigPath, bool ConfigGiven, string? Root, string? Socket, string? LogLevel, string? MetricsAddress, bool Help)
{
    public const string Usage = """
        usage: clip-snapshotter [--config FILE] [--root DIR] [--socket PATH] [--log-level LEVEL] [--metrics-address HOST:PORT]

          --config FILE              TOML configuration (default /etc/clip/config.toml, optional)
          --root DIR                 overrides root_dir
          --socket PATH              overrides socket
          --log-level LEVEL          overrides log_level (trace, debug, info, warn, error)
          --metrics-address ADDR     overrides metrics_address (empty string: off)
        """;

    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        string config = ConfigLoader.DefaultPath;
        bool given = false, help = false;
        string? root = null, socket = null, level = null, metrics = null;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            string? inline = null;
            int eq = a.IndexOf('=');
            if (a.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = a[(eq + 1)..];
                a = a[..eq];
            }
            string Value() => inline ?? (++i < args.Count ? args[i] : throw new ConfigException($"{a} needs a value"));
            switch (a)
            {
                case "--config": config = Value(); given = true; break;
                case "--root": root = Value(); break;
                case "--socket": socket = Value(); break;
                case "--log-level": level = Value(); break;
                case "--metrics-address": metrics = Value(); break;
                case "-h" or "--help": help = true; break;
                default: throw new ConfigException($"unknown argument {args[i]}");
            }
        }
        return new CommandLine(config, given, root, socket, level, metrics, help);
    }

    /// <summary>Loads the file and applies the flags on top.</summary>
    public ClipConfig Resolve()
    {
        var c = ConfigLoader.Load(ConfigPath, mustExist: ConfigGiven);
        if (Root is not null) c.RootDir = Path.GetFullPath(Root);
        if (Socket is not null) c.Socket = Path.GetFullPath(Socket);
        if (LogLevel is not null) c.LogLevel = LogLevel;
        if (MetricsAddress is not null) c.MetricsAddress = MetricsAddress;
        return ConfigLoader.Validate(c, "command line");
    }
}
