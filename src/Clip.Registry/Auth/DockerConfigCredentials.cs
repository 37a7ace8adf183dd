using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Clip.Oci;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Clip.Registry.Auth;

/// <summary>
/// Credentials from docker's <c>config.json</c> (<c>$DOCKER_CONFIG/config.json</c>, default <c>~/.docker/config.json</c>),
/// as docker/cli cli/config/configfile does it: <c>credHelpers[host]</c> first, then <c>credsStore</c>, then
/// <c>auths</c> (base64 <c>auth</c>, <c>username</c>/<c>password</c>, <c>identitytoken</c>). Helpers are the
/// <c>docker-credential-&lt;name&gt;</c> executables of docker-credential-helpers: <c>get</c>, the server URL on
/// stdin, <c>{"ServerURL","Username","Secret"}</c> on stdout. The file is re-read when it changes.
/// </summary>
public sealed class DockerConfigCredentials : ICredentialProvider
{
    /// <summary>The key docker uses for Docker Hub (registry.IndexServer).</summary>
    public const string DockerHubServer = "https://index.docker.io/v1/";

    private readonly string _configFile;
    private readonly string? _searchPath;
    private readonly ILogger _log;
    private readonly TimeSpan _helperTimeout;
    private readonly object _gate = new();
    private (DateTime Mtime, long Length, ConfigFile? Config) _loaded = (DateTime.MinValue, -1, null);

    /// <param name="configDirectory">Directory holding config.json; default $DOCKER_CONFIG or ~/.docker.</param>
    /// <param name="helperSearchPath">Where to look for docker-credential-* helpers (PATH syntax); default $PATH.</param>
    public DockerConfigCredentials(string? configDirectory = null, string? helperSearchPath = null, ILogger? logger = null,
        TimeSpan? helperTimeout = null)
    {
        configDirectory ??= Environment.GetEnvironmentVariable("DOCKER_CONFIG") is { Length: > 0 } d
            ? d
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker");
        _configFile = Path.Combine(configDirectory, "config.json");
        _searchPath = helperSearchPath;
        _log = logger ?? NullLogger.Instance;
        _helperTimeout = helperTimeout ?? TimeSpan.FromSeconds(30);
    }

    public string ConfigPath => _configFile;

    public async ValueTask<RegistryCredential?> GetAsync(string registry, CancellationToken cancellationToken)
    {
        // Docker Hub answers to several names; docker keys its credentials under the index server URL.
        if (registry is "index.docker.io" or Reference.DockerHubApiHost) registry = Reference.DockerHub;
        var config = Load();
        if (config is null) return null;
        string server = registry == Reference.DockerHub ? DockerHubServer : registry;

        string? helper = null;
        foreach (string key in Keys(registry))
            if (config.CredHelpers.TryGetValue(key, out string? h) && h.Length > 0) { helper = h; break; }
        helper ??= config.CredsStore;
        if (!string.IsNullOrEmpty(helper))
        {
            var fromHelper = await RunHelperAsync(helper, server, registry, cancellationToken).ConfigureAwait(false);
            if (fromHelper is not null) return fromHelper;
        }

        foreach (string key in Keys(registry))
            if (config.Auths.TryGetValue(key, out var entry)) return entry;
        // Keys written as URLs with a path ("https://host/v1/") still name the host.
        foreach (var (key, entry) in config.Auths)
            if (string.Equals(HostOf(key), registry, StringComparison.OrdinalIgnoreCase)
                || (registry == Reference.DockerHub && HostOf(key) is "index.docker.io" or "registry-1.docker.io"))
                return entry;
        return null;
    }

    /// <summary>The config.json keys that name <paramref name="registry"/>, most specific first.</summary>
    private static IEnumerable<string> Keys(string registry)
    {
        if (registry == Reference.DockerHub)
        {
            yield return DockerHubServer;
            yield return "index.docker.io";
            yield return "docker.io";
            yield return "registry-1.docker.io";
            yield return "https://index.docker.io/v1";
        }
        yield return registry;
        yield return "https://" + registry;
        yield return "http://" + registry;
    }

    private static string HostOf(string key)
    {
        string k = key;
        int scheme = k.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) k = k[(scheme + 3)..];
        int slash = k.IndexOf('/');
        return slash >= 0 ? k[..slash] : k;
    }

    private ConfigFile? Load()
    {
        FileInfo fi = new(_configFile);
        if (!fi.Exists) return null;
        lock (_gate)
        {
            if (_loaded.Mtime == fi.LastWriteTimeUtc && _loaded.Length == fi.Length) return _loaded.Config;
            ConfigFile? parsed;
            try
            {
                parsed = Parse(File.ReadAllBytes(_configFile), _configFile);
            }
            catch (IOException e) when (e is not RegistryException)
            {
                throw new RegistryException(RegistryErrorKind.Configuration, $"{_configFile}: cannot read docker config: {e.Message}", e);
            }
            _loaded = (fi.LastWriteTimeUtc, fi.Length, parsed);
            return parsed;
        }
    }

    private sealed record ConfigFile(Dictionary<string, RegistryCredential> Auths, Dictionary<string, string> CredHelpers, string? CredsStore);

    private static ConfigFile Parse(byte[] json, string file)
    {
        var auths = new Dictionary<string, RegistryCredential>(StringComparer.OrdinalIgnoreCase);
        var helpers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? store = null;
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new JsonException("top level is not an object");
            if (root.TryGetProperty("auths", out var a) && a.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in a.EnumerateObject())
                {
                    if (p.Value.ValueKind != JsonValueKind.Object) continue;
                    string? user = Str(p.Value, "username"), pass = Str(p.Value, "password");
                    string? auth = Str(p.Value, "auth"), identity = Str(p.Value, "identitytoken");
                    if (!string.IsNullOrEmpty(auth))
                    {
                        string decoded;
                        try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth)); }
                        catch (FormatException) { throw new JsonException($"auths[\"{p.Name}\"].auth is not base64"); }
                        int colon = decoded.IndexOf(':');
                        if (colon < 0) throw new JsonException($"auths[\"{p.Name}\"].auth does not decode to user:password");
                        user = decoded[..colon];
                        pass = decoded[(colon + 1)..];
                    }
                    var cred = new RegistryCredential(user, pass, identity) { Source = $"{file} auths" };
                    if (!cred.IsEmpty) auths[p.Name] = cred;
                }
            }
            if (root.TryGetProperty("credHelpers", out var h) && h.ValueKind == JsonValueKind.Object)
                foreach (var p in h.EnumerateObject())
                    if (p.Value.ValueKind == JsonValueKind.String) helpers[p.Name] = p.Value.GetString()!;
            store = Str(root, "credsStore");
        }
        catch (JsonException e)
        {
            throw new RegistryException(RegistryErrorKind.Configuration, $"{file}: malformed docker config: {e.Message}", e);
        }
        return new ConfigFile(auths, helpers, store);

        static string? Str(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }

    private async Task<RegistryCredential?> RunHelperAsync(string helper, string server, string registry, CancellationToken ct)
    {
        string exe = "docker-credential-" + helper;
        if (helper.Contains('/') || helper.Contains('\0'))
            throw new RegistryException(RegistryErrorKind.Configuration, $"{_configFile}: invalid credential helper name \"{helper}\"");
        string? path = FindExecutable(exe);
        if (path is null)
        {
            Log.CredentialHelperMissing(_log, exe, registry);
            return null;
        }
        var psi = new ProcessStartInfo(path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("get");
        if (_searchPath is not null) psi.Environment["PATH"] = _searchPath;
        using var proc = Process.Start(psi) ?? throw new RegistryException(RegistryErrorKind.Configuration, $"could not start {exe}");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_helperTimeout);
        string stdout, stderr;
        try
        {
            await proc.StandardInput.WriteAsync(server).ConfigureAwait(false);
            proc.StandardInput.Close();
            var so = proc.StandardOutput.ReadToEndAsync(timeout.Token);
            var se = proc.StandardError.ReadToEndAsync(timeout.Token);
            await proc.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            stdout = await so.ConfigureAwait(false);
            stderr = await se.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            try { proc.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            Log.CredentialHelperFailed(_log, exe, registry, $"no answer within {_helperTimeout.TotalSeconds:0}s");
            return null;
        }
        catch (OperationCanceledException)
        {
            try { proc.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw;
        }
        catch (IOException e)
        {
            Log.CredentialHelperFailed(_log, exe, registry, e.Message);
            return null;
        }

        if (proc.ExitCode != 0)
        {
            // docker-credential-helpers: "credentials not found in native keychain" means no entry, not a failure.
            string said = (stdout + stderr).Trim();
            if (!said.Contains("credentials not found", StringComparison.OrdinalIgnoreCase))
                Log.CredentialHelperFailed(_log, exe, registry, $"exit code {proc.ExitCode}: {Truncate(stderr.Trim())}");
            return null;
        }
        try
        {
            using var doc = JsonDocument.Parse(stdout);
            var r = doc.RootElement;
            string? user = r.TryGetProperty("Username", out var u) ? u.GetString() : null;
            string? secret = r.TryGetProperty("Secret", out var s) ? s.GetString() : null;
            if (string.IsNullOrEmpty(secret)) return null;
            // docker/cli: a helper answering Username "<token>" returns an identity token.
            return user == "<token>"
                ? new RegistryCredential(null, null, secret) { Source = $"credential helper {helper}" }
                : new RegistryCredential(user, secret) { Source = $"credential helper {helper}" };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // Never echo the output: it may contain the secret.
            Log.CredentialHelperFailed(_log, exe, registry, "output is not the expected JSON");
            return null;
        }
    }

    private string? FindExecutable(string name)
    {
        string path = _searchPath ?? Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        foreach (string dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static string Truncate(string s) => s.Length <= 200 ? s : s[..200] + "…";
}
