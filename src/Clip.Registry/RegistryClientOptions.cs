using Clip.Oci;
using Clip.Registry.Auth;

namespace Clip.Registry;

/// <summary>How a <see cref="RegistryClient"/> reaches registries. Every member has a working default.</summary>
public sealed record RegistryClientOptions
{
    /// <summary>containerd's certs.d directory of per-host <c>hosts.toml</c> files; null disables mirror configuration.</summary>
    public string? HostsDirectory { get; init; } = "/etc/containerd/certs.d";

    /// <summary>Use plain HTTP for registries that have no hosts.toml (ctr's --plain-http).</summary>
    public bool PlainHttp { get; init; }

    /// <summary>
    /// For localhost / loopback registries on a port other than 443, try HTTPS (without verification) and fall back
    /// to plain HTTP when the TLS handshake fails — containerd's default (config/hosts.go). Off: HTTPS only.
    /// </summary>
    public bool LocalhostHttpFallback { get; init; } = true;

    /// <summary>Skip TLS certificate verification for registries that have no hosts.toml (ctr's --skip-verify).</summary>
    public bool SkipVerify { get; init; }

    /// <summary>Where credentials come from; default: the docker config ($DOCKER_CONFIG or ~/.docker) and its helpers.</summary>
    public ICredentialProvider? Credentials { get; init; }

    /// <summary>The platform chosen from manifest lists / indexes when a call does not say.</summary>
    public Platform Platform { get; init; } = PlatformMatcher.Host;

    /// <summary>Sent as User-Agent.</summary>
    public string UserAgent { get; init; } = "clip/0.1";

    /// <summary>Connections kept per registry host (HTTP/1.1 keep-alive, one pool per client).</summary>
    public int MaxConnectionsPerServer { get; init; } = 16;

    /// <summary>One attempt's limit: until response headers arrive, and the longest silence while reading a body.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// An operation's overall limit, retries and redirects included (manifest fetches, range reads — from open to the
    /// last byte — uploads). Whole-blob streams are bounded by <see cref="RequestTimeout"/> per read instead.
    /// </summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Attempts per request before giving up with <see cref="RegistryErrorKind.TooManyRetries"/> (1 = no retry).</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>First backoff; doubles per attempt, with full jitter, up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Largest backoff between attempts; also caps a server's Retry-After.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest manifest or index accepted (containerd uses 4 MiB).</summary>
    public int MaxManifestBytes { get; init; } = 4 << 20;

    /// <summary>Largest image config or other blob read into memory by <see cref="RegistryClient.GetBlobBytesAsync"/>.</summary>
    public int MaxInMemoryBlobBytes { get; init; } = 64 << 20;

    /// <summary>Redirects followed per request.</summary>
    public int MaxRedirects { get; init; } = 10;

    /// <summary>The clock for token expiry (tests substitute one).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
}
