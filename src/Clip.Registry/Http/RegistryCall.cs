using System.Net;
using Clip.Registry.Hosts;

namespace Clip.Registry.Http;

/// <summary>Everything needed to send (and re-send) one registry request through <see cref="RegistryTransport"/>.</summary>
internal sealed class RegistryCall
{
    public required RequestKind Kind { get; init; }
    public required RegistryHost Host { get; init; }
    /// <summary>The registry namespace ("docker.io"), for credentials and messages.</summary>
    public required string Registry { get; init; }
    /// <summary>The repository path, for messages.</summary>
    public required string Repository { get; init; }
    /// <summary>What the request is about, for messages ("manifest latest", "blob sha256:…").</summary>
    public required string What { get; init; }
    public HttpMethod Method { get; init; } = HttpMethod.Get;
    /// <summary>Path under the API root ("library/ubuntu/manifests/latest"); ignored when <see cref="AbsoluteUri"/> is set.</summary>
    public string RelativePath { get; init; } = "";
    public string? Query { get; init; }
    /// <summary>An absolute URL to use as is (upload session locations).</summary>
    public Uri? AbsoluteUri { get; init; }
    /// <summary>Auth scopes ("repository:library/ubuntu:pull").</summary>
    public IReadOnlyList<string> Scopes { get; init; } = [];
    /// <summary>Sets request headers (Accept, Range) on every attempt.</summary>
    public Action<HttpRequestMessage>? Configure { get; init; }
    /// <summary>Makes a fresh body for every attempt.</summary>
    public Func<HttpContent>? Content { get; init; }
    /// <summary>Statuses handed to the consumer instead of being turned into errors (e.g. 404 for "exists?").</summary>
    public Func<HttpStatusCode, bool>? PassThrough { get; init; }
    /// <summary>The consumer owns the response (a body stream handed to the caller); otherwise it is disposed after consuming.</summary>
    public bool KeepResponse { get; init; }
}
