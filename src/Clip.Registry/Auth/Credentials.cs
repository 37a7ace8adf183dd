namespace Clip.Registry.Auth;

/// <summary>
/// Credentials for one registry: a username and password, or an identity token (an OAuth2 refresh token, as
/// <c>docker login</c> stores for some registries). <see cref="ToString"/> never shows a secret.
/// </summary>
public sealed record RegistryCredential
{
    public RegistryCredential(string? username, string? password, string? identityToken = null)
    {
        Username = string.IsNullOrEmpty(username) ? null : username;
        Password = string.IsNullOrEmpty(password) ? null : password;
        IdentityToken = string.IsNullOrEmpty(identityToken) ? null : identityToken;
    }

    public string? Username { get; }
    public string? Password { get; }
    public string? IdentityToken { get; }

    /// <summary>Where the credential came from ("docker config auths", "credential helper pass"), for messages.</summary>
    public string Source { get; init; } = "explicit";

    public bool HasPassword => Username is not null && Password is not null;
    public bool IsEmpty => !HasPassword && IdentityToken is null;

    /// <summary>The value of a Basic Authorization header.</summary>
    internal string BasicParameter() =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{Username}:{Password}"));

    public override string ToString() =>
        IdentityToken is not null ? $"identity token ({Source})" : $"user \"{Username}\" ({Source})";
}

/// <summary>Supplies credentials per registry host.</summary>
public interface ICredentialProvider
{
    /// <summary>Credentials for <paramref name="registry"/> ("docker.io", "localhost:5000"), or null for anonymous access.</summary>
    ValueTask<RegistryCredential?> GetAsync(string registry, CancellationToken cancellationToken);
}

/// <summary>Fixed credentials, per registry or for every registry (an explicit --user).</summary>
public sealed class StaticCredentials : ICredentialProvider
{
    private readonly Dictionary<string, RegistryCredential> _byRegistry = new(StringComparer.OrdinalIgnoreCase);
    private readonly RegistryCredential? _any;

    /// <summary>The same credentials for every registry.</summary>
    public StaticCredentials(string username, string password) => _any = new RegistryCredential(username, password);

    public StaticCredentials(IReadOnlyDictionary<string, RegistryCredential> byRegistry)
    {
        foreach (var (k, v) in byRegistry) _byRegistry[k] = v;
    }

    public ValueTask<RegistryCredential?> GetAsync(string registry, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_byRegistry.TryGetValue(registry, out var c) ? c : _any);
}

/// <summary>Asks each provider in turn; the first non-null answer wins.</summary>
public sealed class ChainedCredentials(params ICredentialProvider[] providers) : ICredentialProvider
{
    public async ValueTask<RegistryCredential?> GetAsync(string registry, CancellationToken cancellationToken)
    {
        foreach (var p in providers)
            if (await p.GetAsync(registry, cancellationToken).ConfigureAwait(false) is { } c)
                return c;
        return null;
    }
}

/// <summary>No credentials: anonymous access everywhere.</summary>
public sealed class AnonymousCredentials : ICredentialProvider
{
    public static readonly AnonymousCredentials Instance = new();
    public ValueTask<RegistryCredential?> GetAsync(string registry, CancellationToken cancellationToken) => ValueTask.FromResult<RegistryCredential?>(null);
}
