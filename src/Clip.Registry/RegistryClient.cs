using Clip.Oci;
using Clip.Registry.Auth;
using Clip.Registry.Hosts;
using Clip.Registry.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Clip.Registry;

/// <summary>
/// An OCI distribution client (distribution-spec v1.1): resolve images, fetch manifests, configs and blobs (whole,
/// digest-verified, or as exact byte ranges), push blobs, manifests and referrers. Thread-safe; create one per
/// process and share it — it owns the connection pool, token cache and mirror configuration.
/// </summary>
public sealed partial class RegistryClient : IDisposable
{
    private readonly RegistryTransport _transport;
    private readonly ILogger _log;
    private readonly bool _ownsMetrics;

    public RegistryClient(RegistryClientOptions? options = null, ILoggerFactory? loggerFactory = null, RegistryMetrics? metrics = null)
    {
        Options = options ?? new RegistryClientOptions();
        _log = (ILogger?)loggerFactory?.CreateLogger("Clip.Registry") ?? NullLogger.Instance;
        _ownsMetrics = metrics is null;
        Metrics = metrics ?? new RegistryMetrics();
        var credentials = Options.Credentials ?? new DockerConfigCredentials(logger: _log);
        Hosts = RegistryHosts.FromOptions(Options, _log);
        _transport = new RegistryTransport(Options, credentials, Metrics, _log);
    }

    public RegistryClientOptions Options { get; }
    public RegistryMetrics Metrics { get; }

    /// <summary>The mirror configuration in force (containerd hosts.toml).</summary>
    public RegistryHosts Hosts { get; }

    internal static string PullScope(RepositoryName repo) => $"repository:{repo.Path}:pull";
    internal static string PushScope(RepositoryName repo) => $"repository:{repo.Path}:pull,push";

    /// <summary>Checks that the registry answers its API root (GET /v2/), authenticating if asked to. Throws when it does not.</summary>
    public async Task PingAsync(string registry, CancellationToken cancellationToken = default)
    {
        using var scope = new OperationScope(Options.Deadline, cancellationToken);
        await OnHostsAsync(registry, HostCapabilities.Pull, host => _transport.ExecuteAsync(new RegistryCall
        {
            Kind = RequestKind.Ping, Host = host, Registry = registry, Repository = "", What = "API root /v2/",
        }, scope, (_, _) => Task.FromResult(true))).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="action"/> against each host with <paramref name="capability"/> in order, moving on when one
    /// fails (containerd tries mirrors first and the upstream last); the last host's error is the one thrown.
    /// </summary>
    internal async Task<T> OnHostsAsync<T>(string registry, HostCapabilities capability, Func<RegistryHost, Task<T>> action)
    {
        var hosts = Hosts.Resolve(registry).Where(h => h.Can(capability)).ToList();
        if (hosts.Count == 0)
            throw new RegistryException(RegistryErrorKind.Configuration,
                $"registry {registry}: no configured host has the {capability.ToString().ToLowerInvariant()} capability (hosts.toml)")
            { Registry = registry };
        for (int i = 0; ; i++)
        {
            try
            {
                return await action(hosts[i]).ConfigureAwait(false);
            }
            catch (RegistryException e) when (i < hosts.Count - 1 && e.Kind is not RegistryErrorKind.DeadlineExceeded and not RegistryErrorKind.Configuration)
            {
                Log.HostFailed(_log, hosts[i].Authority, registry, e.Kind.ToString());
            }
        }
    }

    internal static RegistryException DigestMismatch(RepositoryName repo, string what, Digest expected, string actual, Exception? inner = null) =>
        new(RegistryErrorKind.DigestMismatch,
            $"registry {repo.Registry}, repository {repo.Path}, {what}: digest mismatch: expected {expected}, got {actual}; the bytes were discarded",
            inner ?? new DigestMismatchException($"{what}: expected {expected}, got {actual}"))
        { Registry = repo.Registry, Repository = repo.Path, Subject = expected.ToString() };

    public void Dispose()
    {
        _transport.Dispose();
        if (_ownsMetrics) Metrics.Dispose();
    }
}
