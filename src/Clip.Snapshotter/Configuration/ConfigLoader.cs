using System.Reflection;
using System.Text;
using System.Text.Json;
using Tomlyn;
using Tomlyn.Model;

namespace Clip.Snapshotter.Configuration;

/// <summary>A configuration file that cannot be used; the message names the file, key and reason.</summary>
public sealed class ConfigException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Reads and checks <see cref="ClipConfig"/> from TOML.</summary>
public static class ConfigLoader
{
    public const string DefaultPath = "/etc/clip/config.toml";

    private static readonly TomlSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private static readonly HashSet<string> LogLevels = ["trace", "debug", "info", "warn", "error"];

    /// <summary>Loads <paramref name="path"/>; a missing file at the default path means "all defaults".</summary>
    public static ClipConfig Load(string path, bool mustExist)
    {
        if (!File.Exists(path))
        {
            if (mustExist) throw new ConfigException($"{path}: configuration file not found");
            return Validate(new ClipConfig(), path);
        }
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses TOML text; <paramref name="sourceName"/> appears in errors.</summary>
    public static ClipConfig Parse(string toml, string sourceName)
    {
        TomlTable table;
        ClipConfig config;
        try
        {
            table = TomlSerializer.Deserialize<TomlTable>(toml) ?? new TomlTable();
            CheckKeys(table, typeof(ClipConfig), "", sourceName);
            config = TomlSerializer.Deserialize<ClipConfig>(toml, Options) ?? new ClipConfig();
        }
        catch (TomlException e)
        {
            throw new ConfigException($"{sourceName}: {e.Message}", e);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or InvalidCastException)
        {
            throw new ConfigException($"{sourceName}: {e.Message}", e);
        }
        return Validate(config, sourceName);
    }

    private static void CheckKeys(TomlTable table, Type type, string prefix, string sourceName)
    {
        var props = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .ToDictionary(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name), p => p);
        foreach (var (key, value) in table)
        {
            if (!props.TryGetValue(key, out var prop))
                throw new ConfigException($"{sourceName}: unknown key \"{prefix}{key}\"");
            bool isSection = prop.PropertyType.IsClass && prop.PropertyType != typeof(string);
            if (isSection)
            {
                if (value is not TomlTable sub)
                    throw new ConfigException($"{sourceName}: \"{prefix}{key}\" must be a table ([{prefix}{key}])");
                CheckKeys(sub, prop.PropertyType, prefix + key + ".", sourceName);
            }
            else if (value is TomlTable)
            {
                throw new ConfigException($"{sourceName}: \"{prefix}{key}\" must be a value, not a table");
            }
        }
    }

    /// <summary>Checks values; returns <paramref name="c"/> or throws <see cref="ConfigException"/> naming every bad key.</summary>
    public static ClipConfig Validate(ClipConfig c, string sourceName)
    {
        var errors = new StringBuilder();
        if (string.IsNullOrWhiteSpace(c.RootDir) || !Path.IsPathRooted(c.RootDir)) errors.Append("root_dir must be an absolute path; ");
        if (string.IsNullOrWhiteSpace(c.Socket) || !Path.IsPathRooted(c.Socket)) errors.Append("socket must be an absolute path; ");
        else if (Encoding.UTF8.GetByteCount(c.Socket) > 107) errors.Append("socket path is longer than a unix socket address allows (107 bytes); ");
        if (!LogLevels.Contains(c.LogLevel)) errors.Append($"log_level must be one of {string.Join(", ", LogLevels)}; ");
        if (c.LogFormat is not ("text" or "json")) errors.Append("log_format must be text or json; ");
        if (c.MetricsAddress.Length > 0 && !TryParseHostPort(c.MetricsAddress, out _, out _)) errors.Append("metrics_address must be host:port; ");
        if (c.Lazy.CacheSizeMib <= 0) errors.Append("lazy.cache_size_mib must be positive; ");
        if (c.Lazy.SpanSizeMib <= 0) errors.Append("lazy.span_size_mib must be positive; ");
        if (c.Lazy.BackgroundFetchDelaySeconds < 0) errors.Append("lazy.background_fetch_delay_seconds must not be negative; ");
        if (c.Lazy.SmallLayerThresholdMib < 0) errors.Append("lazy.small_layer_threshold_mib must not be negative; ");
        if (errors.Length > 0) throw new ConfigException($"{sourceName}: {errors.ToString().TrimEnd(' ', ';')}");
        return c;
    }

    /// <summary>Splits <c>host:port</c> (IPv6 as <c>[::1]:9153</c>).</summary>
    public static bool TryParseHostPort(string address, out string host, out int port)
    {
        host = "";
        port = 0;
        int colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), out port) || port is <= 0 or > 65535) return false;
        host = address[..colon].Trim('[', ']');
        return host.Length > 0;
    }
}
