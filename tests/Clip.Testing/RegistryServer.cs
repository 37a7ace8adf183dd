using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Clip.Testing;

/// <summary>How to start a <see cref="RegistryServer"/>.</summary>
public sealed record RegistryServerOptions
{
    /// <summary>user → password for htpasswd (basic) auth; null: no basic auth.</summary>
    public IReadOnlyDictionary<string, string>? HtpasswdUsers { get; init; }

    /// <summary>A token server whose tokens the registry requires (auth.token); null: no token auth.</summary>
    public TokenServer? TokenAuth { get; init; }

    /// <summary>PEM certificate and key to serve HTTPS with (http.tls); null: plain HTTP.</summary>
    public string? TlsCertificatePath { get; init; }
    public string? TlsKeyPath { get; init; }

    /// <summary>Lines appended to the generated config.yml (YAML, at top level).</summary>
    public string? ExtraConfig { get; init; }
}

/// <summary>
/// The real CNCF distribution registry (Debian's <c>docker-registry</c>, 2.8) on 127.0.0.1 with a free port and
/// filesystem storage in a temp dir, optionally behind htpasswd basic auth or token auth; started, waited for
/// until <c>/v2/</c> answers, and killed with its files on dispose. Needs the docker-registry package; images are
/// pushed with skopeo (<see cref="PushOciLayoutAsync"/>) so the content under test comes from an independent tool.
/// </summary>
public sealed class RegistryServer : IAsyncDisposable
{
    public const string Binary = "/usr/bin/docker-registry";

    private readonly Process _process;
    private readonly TempDir _dir;
    private readonly StreamWriter _log;

    private RegistryServer(Process process, StreamWriter log, TempDir dir, int port, RegistryServerOptions options)
    {
        _process = process;
        _log = log;
        _dir = dir;
        Port = port;
        Options = options;
    }

    public int Port { get; }
    public RegistryServerOptions Options { get; }

    /// <summary>"127.0.0.1:port" — also the registry name in references ("127.0.0.1:port/repo:tag").</summary>
    public string Address => $"127.0.0.1:{Port}";

    public Uri BaseUri => new($"{(Options.TlsCertificatePath is null ? "http" : "https")}://{Address}/");

    /// <summary>Where the registry stores blobs and repositories.</summary>
    public string StorageDirectory => _dir.Combine("storage");

    /// <summary>The registry's log (stdout and stderr).</summary>
    public string LogPath => _dir.Combine("registry.log");

    public static bool IsAvailable => File.Exists(Binary);

    public static async Task<RegistryServer> StartAsync(RegistryServerOptions? options = null, CancellationToken ct = default)
    {
        options ??= new RegistryServerOptions();
        if (!IsAvailable)
            throw new InvalidOperationException($"{Binary} is missing: apt-get install -y docker-registry");
        var dir = new TempDir("clip-registry");
        try
        {
            for (int tries = 0; ; tries++)
            {
                int port = FreePort();
                string config = await WriteConfigAsync(dir, port, options, ct);
                var psi = new ProcessStartInfo(Binary)
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                psi.ArgumentList.Add("serve");
                psi.ArgumentList.Add(config);
                // Keep any inherited proxy settings away from a loopback-only server.
                psi.Environment.Remove("HTTP_PROXY");
                psi.Environment.Remove("HTTPS_PROXY");
                var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start docker-registry");
                var log = new StreamWriter(dir.Combine("registry.log"), append: true) { AutoFlush = true };
                DataReceivedEventHandler write = (_, e) =>
                {
                    if (e.Data is null) return;
                    lock (log)
                    {
                        try { log.WriteLine(e.Data); } catch (ObjectDisposedException) { }
                    }
                };
                p.OutputDataReceived += write;
                p.ErrorDataReceived += write;
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                var server = new RegistryServer(p, log, dir, port, options);
                if (await server.WaitReadyAsync(TimeSpan.FromSeconds(20), ct)) return server;
                await server.StopProcessAsync();
                if (tries >= 2)
                    throw new InvalidOperationException($"docker-registry did not answer on {server.Address}: {SafeRead(dir.Combine("registry.log"))}");
            }
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    private static string SafeRead(string path)
    {
        try { return File.ReadAllText(path); } catch (IOException) { return "(no log)"; }
    }

    private static async Task<string> WriteConfigAsync(TempDir dir, int port, RegistryServerOptions o, CancellationToken ct)
    {
        var sb = new StringBuilder();
        sb.AppendLine("version: 0.1");
        sb.AppendLine("log:\n  level: info\n  accesslog:\n    disabled: true");
        sb.AppendLine($"storage:\n  filesystem:\n    rootdirectory: {dir.Combine("storage")}\n  delete:\n    enabled: true");
        sb.AppendLine($"http:\n  addr: 127.0.0.1:{port}\n  secret: clip-test-secret");
        if (o.TlsCertificatePath is not null)
            sb.AppendLine($"  tls:\n    certificate: {o.TlsCertificatePath}\n    key: {o.TlsKeyPath}");
        if (o.HtpasswdUsers is { Count: > 0 } users)
        {
            string path = dir.Combine("htpasswd");
            await File.WriteAllLinesAsync(path, await Task.WhenAll(users.Select(u => HtpasswdLineAsync(u.Key, u.Value, ct))), ct);
            sb.AppendLine($"auth:\n  htpasswd:\n    realm: clip-basic-realm\n    path: {path}");
        }
        else if (o.TokenAuth is { } t)
        {
            sb.AppendLine($"auth:\n  token:\n    realm: {t.Realm}\n    service: {TokenServer.Service}\n    issuer: {TokenServer.Issuer}\n    rootcertbundle: {t.RootCertificatePath}");
        }
        if (o.ExtraConfig is not null) sb.AppendLine(o.ExtraConfig);
        string file = dir.Combine("config.yml");
        await File.WriteAllTextAsync(file, sb.ToString(), ct);
        return file;
    }

    /// <summary>A bcrypt htpasswd line (distribution accepts bcrypt only), made by apache2-utils' htpasswd.</summary>
    public static async Task<string> HtpasswdLineAsync(string user, string password, CancellationToken ct = default)
    {
        if (!Proc.Exists("htpasswd"))
            throw new InvalidOperationException("htpasswd is missing (bcrypt for docker-registry basic auth): apt-get install -y apache2-utils");
        var r = await Proc.RunAsync("htpasswd", ["-nbB", user, password], TimeSpan.FromSeconds(30));
        r.EnsureSuccess("htpasswd");
        return r.StdOut.Trim();
    }

    private async Task<bool> WaitReadyAsync(TimeSpan timeout, CancellationToken ct)
    {
        var handler = new SocketsHttpHandler { UseProxy = false };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (_process.HasExited) return false;
            try
            {
                using var resp = await http.GetAsync(new Uri(BaseUri, "v2/"), ct);
                if (resp.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized) return true;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { }
            await Task.Delay(100, ct);
        }
        return false;
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>
    /// Pushes image <paramref name="layoutTag"/> of the OCI layout <paramref name="layoutDir"/> to
    /// <c>repository:tag</c> here with skopeo. <paramref name="dockerFormat"/> converts to Docker v2 schema 2 media
    /// types (<c>--format v2s2</c>); <paramref name="all"/> copies a whole index (<c>--all</c>).
    /// </summary>
    public async Task PushOciLayoutAsync(string layoutDir, string layoutTag, string repository, string tag,
        bool dockerFormat = false, bool all = false, string? credentials = null, string? address = null)
    {
        var args = new List<string> { "copy", "--quiet", "--dest-tls-verify=false", "--retry-times", "2" };
        if (dockerFormat) args.AddRange(["--format", "v2s2"]);
        if (all) args.Add("--all");
        if (credentials is not null) args.Add("--dest-creds=" + credentials);
        else if (Options.HtpasswdUsers is { Count: > 0 } u) args.Add($"--dest-creds={u.First().Key}:{u.First().Value}");
        else if (Options.TokenAuth is { } t && t.Users.FirstOrDefault() is { Key: not null } tu) args.Add($"--dest-creds={tu.Key}:{tu.Value}");
        args.Add($"oci:{layoutDir}:{layoutTag}");
        args.Add($"docker://{address ?? Address}/{repository}:{tag}");
        var env = new Dictionary<string, string> { ["HOME"] = _dir.Path };
        var r = await Proc.RunAsync("skopeo", args, TimeSpan.FromMinutes(2), env: env);
        r.EnsureSuccess($"skopeo {string.Join(' ', args.Where(a => !a.StartsWith("--dest-creds", StringComparison.Ordinal)))}");
    }

    /// <summary>skopeo's view of a manifest (raw bytes as stored), for cross-checking.</summary>
    public async Task<string> InspectRawAsync(string repository, string tagOrDigest)
    {
        string sep = tagOrDigest.Contains(':') ? "@" : ":";
        var args = new List<string> { "inspect", "--raw", "--tls-verify=false" };
        if (Options.HtpasswdUsers is { Count: > 0 } u) args.Add($"--creds={u.First().Key}:{u.First().Value}");
        args.Add($"docker://{Address}/{repository}{sep}{tagOrDigest}");
        var r = await Proc.RunAsync("skopeo", args, TimeSpan.FromMinutes(1), env: new Dictionary<string, string> { ["HOME"] = _dir.Path });
        return r.EnsureSuccess("skopeo inspect").StdOut;
    }

    private async Task StopProcessAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(cts.Token);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException or System.ComponentModel.Win32Exception)
        {
        }
        _process.Dispose();
        lock (_log) _log.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopProcessAsync();
        _dir.Dispose();
    }
}

/// <summary>An anonymous registry shared by the tests of one class (xunit IClassFixture).</summary>
public sealed class RegistryFixture : IAsyncLifetime
{
    private RegistryServer? _server;

    public RegistryServer Server => _server ?? throw new InvalidOperationException("registry not started");

    public async Task InitializeAsync() => _server = await RegistryServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}
