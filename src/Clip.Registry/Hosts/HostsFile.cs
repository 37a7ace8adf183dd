using Tomlyn;
using Tomlyn.Model;

namespace Clip.Registry.Hosts;

/// <summary>
/// One parsed containerd <c>hosts.toml</c> (containerd docs/hosts.md; core/remotes/docker/config/hosts.go v2.0):
/// the ordered <c>[host."…"]</c> entries, then the <c>server</c> entry last. An entry whose
/// <see cref="Server"/> is null stands for "the namespace's own registry", filled in by <see cref="RegistryHosts"/>.
/// </summary>
public sealed record HostsFile(IReadOnlyList<HostsFile.Entry> Entries)
{
    /// <summary>One host entry as configured. Paths are absolute (relative ones resolved against the file's directory).</summary>
    public sealed record Entry
    {
        /// <summary>The configured URL ("https://mirror:5000/v2"), or null for the default server.</summary>
        public string? Server { get; init; }
        public string? Scheme { get; init; }
        public string? Authority { get; init; }
        public string ApiPath { get; init; } = "/v2";
        public HostCapabilities Capabilities { get; init; } = HostCapabilities.All;
        public IReadOnlyList<string> CaFiles { get; init; } = [];
        public IReadOnlyList<ClientCertificate> ClientCertificates { get; init; } = [];
        public bool? SkipVerify { get; init; }
        public IReadOnlyDictionary<string, IReadOnlyList<string>> Headers { get; init; } = new Dictionary<string, IReadOnlyList<string>>();
        public bool OverridePath { get; init; }
        public TimeSpan? DialTimeout { get; init; }

        /// <summary>Whether TLS was set explicitly for this entry (ca, client or skip_verify).</summary>
        public bool ExplicitTls => CaFiles.Count > 0 || ClientCertificates.Count > 0 || SkipVerify is not null;
    }

    /// <summary>Parses the text of a hosts.toml; <paramref name="baseDirectory"/> anchors relative certificate paths.</summary>
    /// <exception cref="RegistryException">Kind <see cref="RegistryErrorKind.Configuration"/>, naming the file and the problem.</exception>
    public static HostsFile Parse(string toml, string baseDirectory, string sourceName = "hosts.toml")
    {
        TomlTable root;
        try
        {
            root = TomlSerializer.Deserialize<TomlTable>(toml) ?? new TomlTable();
        }
        catch (TomlException e)
        {
            throw Error(sourceName, $"malformed TOML: {e.Message}", e);
        }

        var entries = new List<Entry>();
        if (root.TryGetValue("host", out object? hostsObj))
        {
            if (hostsObj is not TomlTable hosts) throw Error(sourceName, "\"host\" must be a table of [host.\"<url>\"] entries");
            // TomlTable keeps the file's order, which is the order hosts are tried in (containerd getSortedHosts).
            foreach (var (url, value) in hosts)
            {
                if (value is not TomlTable t) throw Error(sourceName, $"host \"{url}\" must be a table");
                entries.Add(ParseEntry(url, t, baseDirectory, sourceName));
            }
        }
        string? server = root.TryGetValue("server", out object? s)
            ? s as string ?? throw Error(sourceName, "\"server\" must be a string")
            : null;
        entries.Add(ParseEntry(string.IsNullOrEmpty(server) ? null : server, root, baseDirectory, sourceName));
        return new HostsFile(entries);
    }

    /// <summary>Reads and parses <paramref name="path"/>.</summary>
    public static HostsFile Load(string path) =>
        Parse(File.ReadAllText(path), Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/", path);

    private static Entry ParseEntry(string? server, TomlTable t, string baseDir, string source)
    {
        string where = server is null ? "server" : $"host \"{server}\"";
        bool overridePath = t.TryGetValue("override_path", out object? op) && (op as bool? ?? throw Error(source, $"{where}: override_path must be a boolean"));

        string? scheme = null, authority = null, apiPath = "/v2";
        if (server is not null)
        {
            if (server.Contains("://") && !server.StartsWith("http://", StringComparison.Ordinal) && !server.StartsWith("https://", StringComparison.Ordinal))
                throw Error(source, $"{where}: not an http(s) URL");
            string url = server.StartsWith("http", StringComparison.Ordinal) ? server : "https://" + server;
            if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || (u.Scheme != "http" && u.Scheme != "https") || string.IsNullOrEmpty(u.Host))
                throw Error(source, $"{where}: not an http(s) URL");
            scheme = u.Scheme;
            authority = u.IsDefaultPort && !HasExplicitPort(url) ? u.Host : $"{u.Host}:{u.Port}";
            if (u.HostNameType == UriHostNameType.IPv6) authority = u.IsDefaultPort && !HasExplicitPort(url) ? $"[{u.IdnHost}]" : $"[{u.IdnHost}]:{u.Port}";
            string path = u.AbsolutePath;
            if (path is "" or "/")
            {
                apiPath = overridePath ? "" : "/v2";
            }
            else
            {
                path = CleanPath(path);
                apiPath = !path.EndsWith("/v2", StringComparison.Ordinal) && !overridePath ? path + "/v2" : path;
            }
        }

        var caps = HostCapabilities.None;
        if (t.TryGetValue("capabilities", out object? capsObj))
        {
            foreach (string c in Strings(capsObj, where, "capabilities", source))
            {
                caps |= c.ToLowerInvariant() switch
                {
                    "pull" => HostCapabilities.Pull,
                    "resolve" => HostCapabilities.Resolve,
                    "push" => HostCapabilities.Push,
                    _ => throw Error(source, $"{where}: unknown capability \"{c}\" (pull, resolve, push)"),
                };
            }
        }
        if (caps == HostCapabilities.None) caps = HostCapabilities.All;

        var ca = new List<string>();
        if (t.TryGetValue("ca", out object? caObj))
            foreach (string p in Strings(caObj, where, "ca", source)) ca.Add(Abs(p, baseDir));

        var clients = new List<ClientCertificate>();
        if (t.TryGetValue("client", out object? clientObj))
        {
            switch (clientObj)
            {
                case string one:
                    clients.Add(new ClientCertificate(Abs(one, baseDir), null));
                    break;
                case TomlArray arr:
                    foreach (object? item in arr)
                    {
                        switch (item)
                        {
                            case string p:
                                clients.Add(new ClientCertificate(Abs(p, baseDir), null));
                                break;
                            case TomlArray pair when pair.Count == 2 && pair[0] is string cert && pair[1] is string key:
                                clients.Add(new ClientCertificate(Abs(cert, baseDir), key.Length == 0 ? null : Abs(key, baseDir)));
                                break;
                            default:
                                throw Error(source, $"{where}: client must be a path, a list of paths, or a list of [cert, key] pairs");
                        }
                    }
                    break;
                default:
                    throw Error(source, $"{where}: client must be a path, a list of paths, or a list of [cert, key] pairs");
            }
        }

        bool? skip = null;
        if (t.TryGetValue("skip_verify", out object? sv))
            skip = sv as bool? ?? throw Error(source, $"{where}: skip_verify must be a boolean");

        var headers = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase);
        if (t.TryGetValue("header", out object? hObj))
        {
            if (hObj is not TomlTable ht) throw Error(source, $"{where}: header must be a table");
            foreach (var (name, value) in ht)
                headers[name] = Strings(value, where, $"header \"{name}\"", source);
        }

        TimeSpan? dial = null;
        if (t.TryGetValue("dial_timeout", out object? dt))
            dial = ParseGoDuration(dt as string ?? throw Error(source, $"{where}: dial_timeout must be a string like \"5s\""), where, source);

        return new Entry
        {
            Server = server, Scheme = scheme, Authority = authority, ApiPath = apiPath, Capabilities = caps, CaFiles = ca,
            ClientCertificates = clients, SkipVerify = skip, Headers = headers, OverridePath = overridePath, DialTimeout = dial,
        };
    }

    private static bool HasExplicitPort(string url)
    {
        int start = url.IndexOf("://", StringComparison.Ordinal) + 3;
        int end = url.IndexOf('/', start);
        string auth = end < 0 ? url[start..] : url[start..end];
        int bracket = auth.LastIndexOf(']');
        return auth.IndexOf(':', bracket + 1) >= 0;
    }

    private static string CleanPath(string path)
    {
        var parts = new List<string>();
        foreach (string p in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (p == ".") continue;
            if (p == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); continue; }
            parts.Add(p);
        }
        return "/" + string.Join('/', parts);
    }

    private static string Abs(string p, string baseDir) => Path.IsPathRooted(p) ? p : Path.GetFullPath(Path.Combine(baseDir, p));

    private static List<string> Strings(object? value, string where, string what, string source) => value switch
    {
        string s => [s],
        TomlArray a when a.All(x => x is string) => a.Cast<string>().ToList(),
        _ => throw Error(source, $"{where}: {what} must be a string or a list of strings"),
    };

    /// <summary>Go's time.ParseDuration for the units hosts.toml uses ("500ms", "1s", "1m30s").</summary>
    private static TimeSpan ParseGoDuration(string s, string where, string source)
    {
        var total = TimeSpan.Zero;
        int i = 0;
        if (s.Length == 0) throw Error(source, $"{where}: empty dial_timeout");
        while (i < s.Length)
        {
            int start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            if (start == i || !double.TryParse(s.AsSpan(start, i - start), System.Globalization.CultureInfo.InvariantCulture, out double n))
                throw Error(source, $"{where}: invalid dial_timeout \"{s}\"");
            int unitStart = i;
            while (i < s.Length && !char.IsAsciiDigit(s[i]) && s[i] != '.') i++;
            total += s[unitStart..i] switch
            {
                "ns" => TimeSpan.FromTicks((long)(n / 100)),
                "us" or "µs" => TimeSpan.FromTicks((long)(n * 10)),
                "ms" => TimeSpan.FromMilliseconds(n),
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                _ => throw Error(source, $"{where}: invalid dial_timeout \"{s}\""),
            };
        }
        return total;
    }

    private static RegistryException Error(string source, string message, Exception? inner = null) =>
        new(RegistryErrorKind.Configuration, $"{source}: {message}", inner);
}
