using Clip.Snapshotter.Configuration;

namespace Clip.Snapshotter.Tests;

/// <summary>The TOML configuration: defaults, the shipped file, and refusals that name the key.</summary>
public class ConfigTests
{
    private static string RepoFile(params string[] parts)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Clip.sln"))) dir = dir.Parent;
        return Path.Combine([dir!.FullName, .. parts]);
    }

    [Fact]
    public void Empty_file_means_documented_defaults()
    {
        var c = ConfigLoader.Parse("", "empty");
        Assert.Equal("/var/lib/clip", c.RootDir);
        Assert.Equal("/run/clip/clip.sock", c.Socket);
        Assert.Equal("info", c.LogLevel);
        Assert.Equal("", c.MetricsAddress);
        Assert.Equal(10240, c.Lazy.CacheSizeMib);
        Assert.Equal(4, c.Lazy.SpanSizeMib);
        Assert.True(c.Lazy.BackgroundFetch);
        Assert.Equal(10, c.Lazy.SmallLayerThresholdMib);
        Assert.Equal("/etc/containerd/certs.d", c.Lazy.CertsDir);
    }

    [Fact]
    public void The_shipped_config_lists_every_key_with_its_default()
    {
        string text = File.ReadAllText(RepoFile("packaging", "config.toml"));
        var shipped = ConfigLoader.Parse(text, "packaging/config.toml");
        var defaults = new ClipConfig();
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(defaults), System.Text.Json.JsonSerializer.Serialize(shipped));
        foreach (var p in typeof(ClipConfig).GetProperties().Where(p => p.Name != nameof(ClipConfig.Lazy))
                     .Concat(typeof(LazyConfig).GetProperties()))
            Assert.Contains(System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name) + " = ", text);
    }

    [Fact]
    public void Values_are_read_from_snake_case_keys()
    {
        var c = ConfigLoader.Parse("""
            root_dir = "/srv/clip"
            socket = "/run/x.sock"
            log_level = "debug"
            metrics_address = "127.0.0.1:9153"
            [lazy]
            cache_size_mib = 512
            background_fetch = false
            """, "t");
        Assert.Equal(("/srv/clip", "/run/x.sock", "debug", "127.0.0.1:9153"), (c.RootDir, c.Socket, c.LogLevel, c.MetricsAddress));
        Assert.Equal((512L, false), (c.Lazy.CacheSizeMib, c.Lazy.BackgroundFetch));
    }

    [Theory]
    [InlineData("rootdir = \"/x\"", "rootdir")]
    [InlineData("[lazy]\ncache_size = 1", "lazy.cache_size")]
    [InlineData("log_level = \"loud\"", "log_level")]
    [InlineData("root_dir = \"relative\"", "root_dir")]
    [InlineData("metrics_address = \"9153\"", "metrics_address")]
    [InlineData("lazy = 3", "lazy")]
    [InlineData("root_dir = ", "t")]
    public void Bad_files_are_refused_with_the_key_named(string toml, string mentioned)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(toml, "t"));
        Assert.Contains(mentioned, e.Message);
    }

    [Fact]
    public void Command_line_flags_override_the_file()
    {
        using var dir = new Clip.Testing.TempDir();
        string file = dir.Combine("c.toml");
        File.WriteAllText(file, "root_dir = \"/a\"\nlog_level = \"warn\"\n");
        var c = CommandLine.Parse(["--config", file, "--root", "/b", "--socket=/run/s.sock"]).Resolve();
        Assert.Equal(("/b", "/run/s.sock", "warn"), (c.RootDir, c.Socket, c.LogLevel));
        Assert.Throws<ConfigException>(() => CommandLine.Parse(["--config", dir.Combine("missing.toml")]).Resolve());
        Assert.Throws<ConfigException>(() => CommandLine.Parse(["--bogus"]));
    }
}
