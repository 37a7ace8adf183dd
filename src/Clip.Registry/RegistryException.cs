using System.Net;

namespace Clip.Registry;

/// <summary>What went wrong talking to a registry. One value per class of failure a caller handles differently.</summary>
public enum RegistryErrorKind
{
    /// <summary>The manifest, blob, tag or repository does not exist (HTTP 404, or no manifest for the platform).</summary>
    NotFound,
    /// <summary>No usable credentials, or the credentials were rejected (HTTP 401 after authenticating).</summary>
    Unauthorized,
    /// <summary>Authenticated, but not allowed (HTTP 403).</summary>
    Denied,
    /// <summary>Bytes fetched whole did not hash to the digest that named them; they were not used.</summary>
    DigestMismatch,
    /// <summary>A byte range was outside the blob, or the server answered a range request inconsistently.</summary>
    BadRange,
    /// <summary>Transient failures (5xx, 429, resets, timeouts) persisted through every allowed retry.</summary>
    TooManyRetries,
    /// <summary>The operation's overall deadline passed.</summary>
    DeadlineExceeded,
    /// <summary>The registry answered something that violates the distribution spec (bad JSON, missing headers, bad status).</summary>
    InvalidResponse,
    /// <summary>The content exists but clip cannot use it (schema 1 manifests, unknown media types).</summary>
    Unsupported,
    /// <summary>The request itself was rejected as malformed (HTTP 400, e.g. MANIFEST_INVALID).</summary>
    BadRequest,
    /// <summary>Local configuration is wrong (hosts.toml, docker config, credential helper, certificates).</summary>
    Configuration,
}

/// <summary>
/// A registry operation failed. The message names the registry, repository and digest or tag, and says
/// what happened; <see cref="Kind"/> is what callers switch on (one function maps it to a gRPC status).
/// </summary>
public class RegistryException : IOException
{
    public RegistryException(RegistryErrorKind kind, string message, Exception? inner = null) : base(message, inner)
    {
        Kind = kind;
    }

    public RegistryErrorKind Kind { get; }

    /// <summary>The registry host the operation addressed ("docker.io"), when known.</summary>
    public string? Registry { get; init; }

    /// <summary>The repository path, when known.</summary>
    public string? Repository { get; init; }

    /// <summary>The tag or digest the operation was about, when any.</summary>
    public string? Subject { get; init; }

    /// <summary>The HTTP status of the last response, when there was one.</summary>
    public HttpStatusCode? StatusCode { get; init; }

    /// <summary>Error codes from the registry's JSON error body (distribution-spec "errors[].code"), e.g. MANIFEST_UNKNOWN.</summary>
    public IReadOnlyList<string> ErrorCodes { get; init; } = [];

    /// <summary>Whether retrying later might succeed (transient network trouble rather than a verdict).</summary>
    public bool IsTransient => Kind is RegistryErrorKind.TooManyRetries or RegistryErrorKind.DeadlineExceeded;
}
