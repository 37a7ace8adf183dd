namespace Clip.Registry.Hosts;

/// <summary>What a host may be asked to do (containerd docker.HostCapabilities).</summary>
[Flags]
public enum HostCapabilities
{
    None = 0,
    /// <summary>Fetch content by digest (blobs, manifests by digest).</summary>
    Pull = 1,
    /// <summary>Turn a tag into a digest — a trusted operation, never asked of a public mirror.</summary>
    Resolve = 2,
    /// <summary>Upload blobs and manifests.</summary>
    Push = 4,
    All = Pull | Resolve | Push,
}

/// <summary>A client certificate: a PEM certificate file and its key file (null: the key is in the certificate file).</summary>
public sealed record ClientCertificate(string CertificateFile, string? KeyFile);

/// <summary>
/// One endpoint that serves a registry namespace: the upstream itself or a mirror from hosts.toml, in the order
/// they are tried. Mirrors the fields of containerd's docker.RegistryHost (core/remotes/docker/registry.go).
/// </summary>
public sealed record RegistryHost
{
    /// <summary>"https" or "http".</summary>
    public required string Scheme { get; init; }

    /// <summary>"host[:port]" requests go to.</summary>
    public required string Authority { get; init; }

    /// <summary>The API root path, "/v2" unless hosts.toml says otherwise (override_path).</summary>
    public string ApiPath { get; init; } = "/v2";

    public HostCapabilities Capabilities { get; init; } = HostCapabilities.All;

    /// <summary>Extra headers sent with every request to this host (hosts.toml [header]).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Headers { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>Extra CA certificate files (PEM) trusted for this host, on top of the system roots.</summary>
    public IReadOnlyList<string> CaFiles { get; init; } = [];

    /// <summary>Client certificates offered to this host.</summary>
    public IReadOnlyList<ClientCertificate> ClientCertificates { get; init; } = [];

    /// <summary>Skip certificate chain and name verification.</summary>
    public bool SkipVerify { get; init; }

    /// <summary>Connect timeout for this host (hosts.toml dial_timeout); null: the client's default.</summary>
    public TimeSpan? DialTimeout { get; init; }

    /// <summary>Try HTTPS first and fall back to plain HTTP if the TLS handshake fails (containerd's HTTPFallback).</summary>
    public bool HttpFallback { get; init; }

    /// <summary>When this host mirrors another registry, that registry's name, sent as the <c>ns</c> query parameter.</summary>
    public string? MirrorOf { get; init; }

    /// <summary>Whether TLS settings differ from the defaults (such a host needs its own connection pool).</summary>
    public bool HasCustomTls => CaFiles.Count > 0 || ClientCertificates.Count > 0 || SkipVerify;

    /// <summary>Whether this host needs a connection pool of its own (custom TLS or dial timeout).</summary>
    public bool NeedsOwnPool => HasCustomTls || DialTimeout is not null;

    public bool Can(HostCapabilities capability) => (Capabilities & capability) == capability;

    /// <summary>The URL of <paramref name="relative"/> ("library/ubuntu/manifests/latest") under the API root.</summary>
    public Uri ApiUri(string relative, string? query = null, string? scheme = null)
    {
        string path = ApiPath.TrimEnd('/') + "/" + relative;
        var parts = new List<string>(2);
        if (!string.IsNullOrEmpty(query)) parts.Add(query);
        if (MirrorOf is not null) parts.Add("ns=" + Uri.EscapeDataString(MirrorOf));
        string q = parts.Count == 0 ? "" : "?" + string.Join('&', parts);
        return new Uri($"{scheme ?? Scheme}://{Authority}{path}{q}");
    }

    public override string ToString() => $"{Scheme}://{Authority}{ApiPath}";
}
