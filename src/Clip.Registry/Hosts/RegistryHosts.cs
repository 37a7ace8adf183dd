using System.Collections.Concurrent;
using System.Net;
using Clip.Oci;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Clip.Registry.Hosts;

/// <summary>
/// Turns a registry name into the ordered endpoints to try, following containerd's ConfigureHosts
/// (core/remotes/docker/config/hosts.go v2.0): look for <c>&lt;dir&gt;/host_port_</c>, <c>&lt;dir&gt;/host:port</c>,
/// then <c>&lt;dir&gt;/_default</c>; use its hosts.toml (or docker-style *.crt / *.cert / *.key files); the last
/// entry without a server becomes the registry itself (docker.io → https://registry-1.docker.io).
/// Files are re-read after a few seconds, so edits apply without a restart, as in containerd.
/// </summary>
public sealed class RegistryHosts
{
    private readonly string? _directory;
    private readonly bool _plainHttp;
    private readonly bool _skipVerify;
    private readonly bool _localhostFallback;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, (long Expires, IReadOnlyList<RegistryHost> Hosts)> _cache = new();
    private static readonly long CacheMillis = 5_000;

    public RegistryHosts(string? directory, bool plainHttp = false, bool skipVerify = false, bool localhostHttpFallback = true,
        ILogger? logger = null)
    {
        _directory = directory;
        _plainHttp = plainHttp;
        _skipVerify = skipVerify;
        _localhostFallback = localhostHttpFallback;
        _log = logger ?? NullLogger.Instance;
    }

    public static RegistryHosts FromOptions(RegistryClientOptions o, ILogger? logger = null) =>
        new(o.HostsDirectory, o.PlainHttp, o.SkipVerify, o.LocalhostHttpFallback, logger);

    /// <summary>The endpoints for <paramref name="registry"/> ("docker.io", "localhost:5000"), in the order to try them.</summary>
    public IReadOnlyList<RegistryHost> Resolve(string registry)
    {
        long now = Environment.TickCount64;
        if (_cache.TryGetValue(registry, out var hit) && hit.Expires > now) return hit.Hosts;
        var hosts = Build(registry);
        _cache[registry] = (now + CacheMillis, hosts);
        return hosts;
    }

    /// <summary>The certs.d directory that applies to <paramref name="registry"/>, or null.</summary>
    public string? FindHostDirectory(string registry)
    {
        if (_directory is null) return null;
        foreach (string p in HostDirectoryCandidates(registry))
        {
            string full = Path.Combine(_directory, p);
            if (Directory.Exists(full)) return full;
        }
        return null;
    }

    /// <summary>Directory names searched for <paramref name="registry"/>, in order (containerd hostPaths).</summary>
    public static IEnumerable<string> HostDirectoryCandidates(string registry)
    {
        int colon = registry.LastIndexOf(':');
        if (colon > 0 && colon > registry.LastIndexOf(']'))
            yield return registry[..colon] + "_" + registry[(colon + 1)..] + "_";
        yield return registry;
        yield return "_default";
    }

    /// <summary>Whether <paramref name="registry"/> names this machine (containerd docker.IsLocalhost).</summary>
    public static bool IsLocalhost(string registry)
    {
        string host = SplitPort(registry, out _);
        if (host == "localhost") return true;
        return IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }

    private static string SplitPort(string authority, out string? port)
    {
        port = null;
        int bracket = authority.LastIndexOf(']');
        int colon = authority.LastIndexOf(':');
        if (colon > bracket && (bracket >= 0 || authority.IndexOf(':') == colon))
        {
            port = authority[(colon + 1)..];
            return authority[..colon];
        }
        return authority;
    }

    private IReadOnlyList<RegistryHost> Build(string registry)
    {
        List<HostsFile.Entry>? entries = null;
        string? dir = FindHostDirectory(registry);
        if (dir is not null)
        {
            string file = Path.Combine(dir, "hosts.toml");
            if (File.Exists(file) && new FileInfo(file).Length > 0)
            {
                entries = HostsFile.Load(file).Entries.ToList();
                Log.HostsFileLoaded(_log, registry, file, entries.Count);
            }
            else
            {
                entries = [CertFilesEntry(dir)];
            }
        }
        entries ??= [new HostsFile.Entry()];

        var result = new List<RegistryHost>(entries.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            bool isDefault = e.Server is null;
            if (isDefault && i != entries.Count - 1) continue;
            string scheme, authority;
            bool skipVerify = e.SkipVerify ?? (isDefault && _skipVerify);
            bool fallback = false;
            if (isDefault)
            {
                if (registry == Reference.DockerHub)
                {
                    scheme = "https";
                    authority = Reference.DockerHubApiHost;
                }
                else if (IsLocalhost(registry))
                {
                    authority = registry;
                    if (_plainHttp)
                    {
                        scheme = "http";
                    }
                    else
                    {
                        SplitPort(registry, out string? port);
                        // containerd: localhost on port 443 or none is HTTPS only; on any other port it is tried
                        // with HTTPS (unverified) first and plain HTTP if the handshake fails; port 80 is plain HTTP.
                        if (port is null or "443") scheme = "https";
                        else if (port == "80") scheme = "http";
                        else if (_localhostFallback) { scheme = "https"; fallback = true; skipVerify = e.SkipVerify ?? true; }
                        else scheme = "https";
                    }
                }
                else
                {
                    authority = registry;
                    scheme = _plainHttp ? "http" : "https";
                }
            }
            else
            {
                scheme = e.Scheme!;
                authority = e.Authority!;
                // containerd: an http:// host with explicit TLS settings tries HTTPS first (unless port 80).
                if (scheme == "http" && e.ExplicitTls)
                {
                    SplitPort(authority, out string? port);
                    if (port != "80") { scheme = "https"; fallback = true; }
                }
            }

            result.Add(new RegistryHost
            {
                Scheme = scheme,
                Authority = authority,
                ApiPath = isDefault ? "/v2" : e.ApiPath,
                Capabilities = e.Capabilities,
                Headers = e.Headers,
                CaFiles = e.CaFiles,
                ClientCertificates = e.ClientCertificates,
                SkipVerify = skipVerify,
                HttpFallback = fallback,
                DialTimeout = e.DialTimeout,
                MirrorOf = !isDefault && !string.Equals(authority, registry, StringComparison.OrdinalIgnoreCase) ? registry : null,
            });
        }
        return result;
    }

    /// <summary>Docker's certs.d layout: *.crt are CAs, *.cert with a matching *.key are client pairs.</summary>
    private static HostsFile.Entry CertFilesEntry(string dir)
    {
        var ca = new List<string>();
        var clients = new List<ClientCertificate>();
        foreach (string f in Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal))
        {
            if (f.EndsWith(".crt", StringComparison.Ordinal)) ca.Add(f);
            else if (f.EndsWith(".cert", StringComparison.Ordinal))
            {
                string key = f[..^5] + ".key";
                clients.Add(new ClientCertificate(f, File.Exists(key) ? key : null));
            }
        }
        return new HostsFile.Entry { CaFiles = ca, ClientCertificates = clients };
    }
}
