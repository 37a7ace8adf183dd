using System.Globalization;

namespace Clip.NetBench;

/// <summary>A command line that cannot be used; the message says why.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary><c>--name value</c> options (repeatable) and bare flags; nothing else.</summary>
public sealed class Args
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public static Args Parse(string[] argv)
    {
        var a = new Args();
        for (int i = 0; i < argv.Length; i++)
        {
            string name = argv[i];
            if (!name.StartsWith("--", StringComparison.Ordinal)) throw new UsageException($"unexpected argument \"{name}\"");
            string? value = null;
            int eq = name.IndexOf('=');
            if (eq > 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (i + 1 < argv.Length && !argv[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = argv[++i];
            }
            if (!a._values.TryGetValue(name[2..], out var list)) a._values[name[2..]] = list = [];
            list.Add(value ?? "");
        }
        return a;
    }

    public string? Get(string name)
    {
        _used.Add(name);
        return _values.TryGetValue(name, out var l) ? l[^1] : null;
    }

    public string Require(string name) => Get(name) is { Length: > 0 } v ? v : throw new UsageException($"--{name} is required");

    public IReadOnlyList<string> All(string name)
    {
        _used.Add(name);
        return _values.TryGetValue(name, out var l) ? l : [];
    }

    public bool Flag(string name) => Get(name) is not null;

    public int Int(string name, int fallback) => Get(name) is { } v
        ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) ? r : throw new UsageException($"--{name} takes an integer, not \"{v}\"")
        : fallback;

    public double Double(string name, double fallback) => Get(name) is { } v
        ? double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) ? r : throw new UsageException($"--{name} takes a number, not \"{v}\"")
        : fallback;

    /// <summary>Refuses options nobody asked for (a typo must not silently change a benchmark).</summary>
    public void CheckAllUsed()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException("unknown option(s): " + string.Join(", ", unknown.Select(k => "--" + k)));
    }

    /// <summary>Parses HOST:PORT (IPv4 or a name).</summary>
    public static System.Net.IPEndPoint Endpoint(string value)
    {
        int colon = value.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(value.AsSpan(colon + 1), CultureInfo.InvariantCulture, out int port))
            throw new UsageException($"\"{value}\" is not HOST:PORT");
        string host = value[..colon].Trim('[', ']');
        var ip = System.Net.IPAddress.TryParse(host, out var parsed) ? parsed
            : System.Net.Dns.GetHostAddresses(host).FirstOrDefault() ?? throw new UsageException($"cannot resolve {host}");
        return new System.Net.IPEndPoint(ip, port);
    }
}
