using System.Net.Http.Headers;
using System.Text.Json;
using Clip.Oci;
using Clip.Registry.Hosts;
using Clip.Registry.Http;

namespace Clip.Registry;

public sealed partial class RegistryClient
{
    /// <summary>The manifest media types clip accepts, in order of preference (sent as Accept).</summary>
    public static readonly IReadOnlyList<string> ManifestMediaTypes =
        [MediaTypes.OciIndex, MediaTypes.DockerManifestList, MediaTypes.OciManifest, MediaTypes.DockerManifest];

    private const string DockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
    private const string DockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// <summary>Fetches the manifest or index <paramref name="reference"/> names (its digest if pinned, else its tag), verified.</summary>
    public Task<ManifestContent> GetManifestAsync(Reference reference, CancellationToken cancellationToken = default) =>
        GetManifestAsync(reference.RepositoryName, reference.TagOrDigest, cancellationToken);

    /// <summary>
    /// Fetches a manifest by tag or digest. By digest, the bytes must hash to it; by tag, they must match the
    /// registry's Docker-Content-Digest when it sends one. Tags are resolved only on hosts trusted to resolve.
    /// </summary>
    public async Task<ManifestContent> GetManifestAsync(RepositoryName repository, string tagOrDigest, CancellationToken cancellationToken = default)
    {
        using var scope = new OperationScope(Options.Deadline, cancellationToken);
        return await GetManifestAsync(repository, tagOrDigest, scope).ConfigureAwait(false);
    }

    private async Task<ManifestContent> GetManifestAsync(RepositoryName repo, string tagOrDigest, OperationScope scope)
    {
        Digest? pinned = ParseTagOrDigest(tagOrDigest);
        return await OnHostsAsync(repo.Registry, pinned is null ? HostCapabilities.Resolve : HostCapabilities.Pull, host =>
            _transport.ExecuteAsync(new RegistryCall
            {
                Kind = RequestKind.Manifest, Host = host, Registry = repo.Registry, Repository = repo.Path,
                What = $"manifest {tagOrDigest}",
                RelativePath = $"{repo.Path}/manifests/{tagOrDigest}",
                Scopes = [PullScope(repo)],
                Configure = req => { foreach (string t in ManifestMediaTypes) req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(t)); },
            }, scope, async (resp, ct) =>
            {
                byte[] body = await RegistryTransport.ReadLimitedAsync(resp.Content, Options.MaxManifestBytes, $"manifest {tagOrDigest}", ct).ConfigureAwait(false);
                Metrics.Bytes(RequestKind.Manifest, body.Length);
                return VerifyManifest(repo, tagOrDigest, pinned, body, resp.Content.Headers.ContentType?.MediaType,
                    resp.Headers.TryGetValues("Docker-Content-Digest", out var dcd) ? dcd.FirstOrDefault() : null);
            })).ConfigureAwait(false);
    }

    private static Digest? ParseTagOrDigest(string tagOrDigest)
    {
        if (tagOrDigest.Contains(':'))
            return Digest.TryParse(tagOrDigest, out var d) ? d : throw new FormatException($"invalid digest \"{tagOrDigest}\"");
        if (Reference.ValidateTag(tagOrDigest) is { } error) throw new FormatException(error);
        return null;
    }

    private static ManifestContent VerifyManifest(RepositoryName repo, string tagOrDigest, Digest? pinned, byte[] body, string? contentType, string? headerDigest)
    {
        string what = $"manifest {tagOrDigest}";
        Digest expected;
        if (pinned is { } p)
        {
            expected = p;
        }
        else if (headerDigest is not null && Digest.TryParse(headerDigest, out var hd))
        {
            expected = hd;
        }
        else
        {
            expected = Digest.Sha256(body);
        }
        using (var h = expected.CreateHasher())
        {
            h.AppendData(body);
            byte[] hash = h.GetHashAndReset();
            if (!expected.Matches(hash))
                throw DigestMismatch(repo, what, expected, $"{expected.Algorithm}:{Convert.ToHexStringLower(hash)}");
        }

        MediaTypeProbe probe;
        try
        {
            probe = OciJson.Parse<MediaTypeProbe>(body, what);
        }
        catch (InvalidDataException e)
        {
            throw new RegistryException(RegistryErrorKind.InvalidResponse, $"registry {repo.Registry}, repository {repo.Path}, {what}: {e.Message}", e)
            { Registry = repo.Registry, Repository = repo.Path, Subject = tagOrDigest };
        }
        string? mediaType = probe.MediaType;
        if (string.IsNullOrEmpty(mediaType) && contentType is not null && contentType != "application/json") mediaType = contentType;
        if (probe.SchemaVersion == 1 || mediaType is DockerSchema1 or DockerSchema1Signed)
            throw new RegistryException(RegistryErrorKind.Unsupported,
                $"registry {repo.Registry}, repository {repo.Path}, {what}: Docker schema 1 manifests are not supported (deprecated since 2017; re-push the image)")
            { Registry = repo.Registry, Repository = repo.Path, Subject = tagOrDigest };
        if (string.IsNullOrEmpty(mediaType))
            mediaType = probe.Manifests is not null ? MediaTypes.OciIndex : probe.Config is not null ? MediaTypes.OciManifest : null;
        if (!MediaTypes.IsIndex(mediaType) && !MediaTypes.IsManifest(mediaType))
            throw new RegistryException(RegistryErrorKind.Unsupported,
                $"registry {repo.Registry}, repository {repo.Path}, {what}: unsupported media type \"{mediaType}\"")
            { Registry = repo.Registry, Repository = repo.Path, Subject = tagOrDigest };
        return new ManifestContent(new Descriptor { MediaType = mediaType!, Digest = expected.ToString(), Size = body.Length }, body);
    }

    /// <summary>
    /// Resolves <paramref name="reference"/> to one image manifest: an index or manifest list is narrowed to
    /// <paramref name="platform"/> (default <see cref="RegistryClientOptions.Platform"/>), and every manifest on the
    /// way is verified against the digest and size that named it.
    /// </summary>
    public async Task<ResolvedImage> ResolveImageAsync(Reference reference, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        platform ??= Options.Platform;
        var repo = reference.RepositoryName;
        using var scope = new OperationScope(Options.Deadline, cancellationToken);
        var top = await GetManifestAsync(repo, reference.TagOrDigest, scope).ConfigureAwait(false);
        var current = top;
        Descriptor? index = null;
        Platform? chosen = null;
        for (int depth = 0; current.IsIndex; depth++)
        {
            if (depth >= 4)
                throw new RegistryException(RegistryErrorKind.Unsupported, $"registry {repo.Registry}, repository {repo.Path}: indexes nested more than 4 deep")
                { Registry = repo.Registry, Repository = repo.Path, Subject = reference.TagOrDigest };
            index ??= current.Descriptor;
            ImageIndex parsed = ParseOrThrow(() => current.ParseIndex(), repo, current.Digest.ToString());
            var pick = PlatformMatcher.Select(parsed, platform)
                       ?? parsed.Manifests.FirstOrDefault(d => MediaTypes.IsIndex(d.MediaType) && PlatformMatcher.Matches(platform, d.Platform));
            if (pick is null)
            {
                string available = string.Join(", ", parsed.Manifests.Select(d => d.Platform?.ToString() ?? "(no platform)").Distinct());
                throw new RegistryException(RegistryErrorKind.NotFound,
                    $"registry {repo.Registry}, repository {repo.Path}: index {current.Digest} has no manifest for platform {platform} (available: {(available.Length == 0 ? "none" : available)})")
                { Registry = repo.Registry, Repository = repo.Path, Subject = current.Digest.ToString() };
            }
            chosen = pick.Platform ?? chosen;
            var d = ParseOrThrow(() => pick.ParsedDigest, repo, current.Digest.ToString());
            var next = await GetManifestAsync(repo, d.ToString(), scope).ConfigureAwait(false);
            if (pick.Size > 0 && next.Bytes.Length != pick.Size)
                throw new RegistryException(RegistryErrorKind.DigestMismatch,
                    $"registry {repo.Registry}, repository {repo.Path}, manifest {d}: {next.Bytes.Length} bytes, the index says {pick.Size}")
                { Registry = repo.Registry, Repository = repo.Path, Subject = d.ToString() };
            current = next with { Descriptor = next.Descriptor with { Platform = pick.Platform } };
        }

        Manifest manifest = ParseOrThrow(() => current.ParseManifest(), repo, current.Digest.ToString());
        foreach (var d in manifest.Layers.Append(manifest.Config))
        {
            if (!Digest.TryParse(d.Digest, out _))
                throw new RegistryException(RegistryErrorKind.InvalidResponse,
                    $"registry {repo.Registry}, repository {repo.Path}, manifest {current.Digest}: invalid descriptor digest \"{d.Digest}\"")
                { Registry = repo.Registry, Repository = repo.Path, Subject = current.Digest.ToString() };
            if (d.Size < 0)
                throw new RegistryException(RegistryErrorKind.InvalidResponse,
                    $"registry {repo.Registry}, repository {repo.Path}, manifest {current.Digest}: negative size for {d.Digest}")
                { Registry = repo.Registry, Repository = repo.Path, Subject = current.Digest.ToString() };
        }
        return new ResolvedImage
        {
            Reference = reference.WithDigest(top.Digest),
            Index = index,
            ManifestDescriptor = current.Descriptor,
            ManifestBytes = current.Bytes,
            Manifest = manifest,
            Platform = chosen,
        };
    }

    /// <summary>Fetches and parses the image config, verified against its descriptor.</summary>
    public async Task<ImageConfig> GetImageConfigAsync(ResolvedImage image, CancellationToken cancellationToken = default)
    {
        byte[] bytes = await GetBlobBytesAsync(image.Repository, image.Config, cancellationToken).ConfigureAwait(false);
        return ParseOrThrow(() => OciJson.Parse<ImageConfig>(bytes, $"config {image.Config.Digest}"), image.Repository, image.Config.Digest);
    }

    /// <summary>
    /// The descriptor a tag or digest currently resolves to (HEAD, no body), or null when it does not exist.
    /// The digest comes from Docker-Content-Digest, so this needs a registry that sends it.
    /// </summary>
    public async Task<Descriptor?> HeadManifestAsync(Reference reference, CancellationToken cancellationToken = default)
    {
        var repo = reference.RepositoryName;
        string tagOrDigest = reference.TagOrDigest;
        Digest? pinned = ParseTagOrDigest(tagOrDigest);
        using var scope = new OperationScope(Options.Deadline, cancellationToken);
        return await OnHostsAsync(repo.Registry, pinned is null ? HostCapabilities.Resolve : HostCapabilities.Pull, host =>
            _transport.ExecuteAsync(new RegistryCall
            {
                Kind = RequestKind.Manifest, Host = host, Registry = repo.Registry, Repository = repo.Path,
                What = $"manifest {tagOrDigest}", Method = HttpMethod.Head,
                RelativePath = $"{repo.Path}/manifests/{tagOrDigest}",
                Scopes = [PullScope(repo)],
                Configure = req => { foreach (string t in ManifestMediaTypes) req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(t)); },
                PassThrough = s => s == System.Net.HttpStatusCode.NotFound,
            }, scope, (resp, _) =>
            {
                if (resp.StatusCode == System.Net.HttpStatusCode.NotFound) return Task.FromResult<Descriptor?>(null);
                string? dcd = resp.Headers.TryGetValues("Docker-Content-Digest", out var v) ? v.FirstOrDefault() : null;
                Digest d = pinned ?? (Digest.TryParse(dcd, out var parsed) ? parsed
                    : throw new RegistryException(RegistryErrorKind.InvalidResponse,
                        $"registry {repo.Registry}, repository {repo.Path}, manifest {tagOrDigest}: HEAD answered without a valid Docker-Content-Digest")
                    { Registry = repo.Registry, Repository = repo.Path, Subject = tagOrDigest });
                return Task.FromResult<Descriptor?>(new Descriptor
                {
                    MediaType = resp.Content.Headers.ContentType?.MediaType ?? "",
                    Digest = d.ToString(),
                    Size = resp.Content.Headers.ContentLength ?? 0,
                });
            })).ConfigureAwait(false);
    }

    private static T ParseOrThrow<T>(Func<T> parse, RepositoryName repo, string subject)
    {
        try
        {
            return parse();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or JsonException)
        {
            throw new RegistryException(RegistryErrorKind.InvalidResponse, $"registry {repo.Registry}, repository {repo.Path}, {subject}: {e.Message}", e)
            { Registry = repo.Registry, Repository = repo.Path, Subject = subject };
        }
    }
}
