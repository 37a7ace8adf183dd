using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Clip.Oci;
using Clip.Registry.Hosts;
using Clip.Registry.Http;

namespace Clip.Registry;

public sealed partial class RegistryClient
{
    /// <summary>The OCI empty descriptor's content, "{}" (image-spec manifest.md "Guidance for an Empty Descriptor").</summary>
    public static readonly byte[] EmptyJson = "{}"u8.ToArray();

    /// <summary>Whether the registry already has the blob in <paramref name="repository"/> (HEAD on a push-capable host).</summary>
    public async Task<bool> BlobExistsAsync(RepositoryName repository, Digest digest, CancellationToken cancellationToken = default)
    {
        using var scope = new OperationScope(Options.Deadline, cancellationToken);
        return await HeadBlobAsync(PushHost(repository.Registry), repository, digest, scope, push: true).ConfigureAwait(false) is not null;
    }

    /// <summary>Uploads <paramref name="data"/> as a blob unless it is there already; returns its descriptor.</summary>
    public async Task<Descriptor> PushBlobAsync(RepositoryName repository, ReadOnlyMemory<byte> data, string mediaType,
        RepositoryName? mountFrom = null, CancellationToken cancellationToken = default)
    {
        var digest = Digest.Sha256(data.Span);
        await PushBlobAsync(repository, digest, data.Length, () => new ReadOnlyMemoryContent(data), mountFrom, cancellationToken).ConfigureAwait(false);
        return new Descriptor { MediaType = mediaType, Digest = digest.ToString(), Size = data.Length };
    }

    /// <summary>Uploads a file as a blob unless it is there already; the caller gives its digest and size.</summary>
    public Task PushBlobFileAsync(RepositoryName repository, Digest digest, string path, RepositoryName? mountFrom = null,
        CancellationToken cancellationToken = default)
    {
        long size = new FileInfo(path).Length;
        return PushBlobAsync(repository, digest, size, () => new StreamContent(File.OpenRead(path), 1 << 16), mountFrom, cancellationToken);
    }

    /// <summary>
    /// The upload protocol (distribution-spec "Pushing blobs"): HEAD to skip a blob that exists; optionally a
    /// cross-repository mount (POST ?mount=&amp;from=; 201 means done, 202 means the registry declined and opened an
    /// ordinary upload session); otherwise POST to open a session, then one monolithic PUT ?digest=.
    /// </summary>
    private async Task PushBlobAsync(RepositoryName repo, Digest digest, long size, Func<HttpContent> content, RepositoryName? mountFrom,
        CancellationToken cancellationToken)
    {
        using var scope = new OperationScope(Options.Deadline, cancellationToken);
        var host = PushHost(repo.Registry);
        if (await HeadBlobAsync(host, repo, digest, scope, push: true).ConfigureAwait(false) is not null)
        {
            Log.BlobExists(_log, digest.ToString(), repo.ToString());
            return;
        }

        var scopes = new List<string> { PushScope(repo) };
        string query = "";
        if (mountFrom is not null && mountFrom.Registry == repo.Registry && mountFrom.Path != repo.Path)
        {
            scopes.Add(PullScope(mountFrom));
            query = $"mount={Uri.EscapeDataString(digest.ToString())}&from={Uri.EscapeDataString(mountFrom.Path)}";
        }
        var (status, location) = await _transport.ExecuteAsync(new RegistryCall
        {
            Kind = RequestKind.BlobUpload, Host = host, Registry = repo.Registry, Repository = repo.Path, What = $"blob upload {digest}",
            Method = HttpMethod.Post, RelativePath = $"{repo.Path}/blobs/uploads/", Query = query.Length > 0 ? query : null,
            Scopes = scopes,
            Content = () => new ByteArrayContent([]),
        }, scope, (resp, _) => Task.FromResult((resp.StatusCode, resp.Headers.Location))).ConfigureAwait(false);
        if (status == HttpStatusCode.Created && query.Length > 0)
        {
            Log.BlobMounted(_log, digest.ToString(), repo.ToString(), mountFrom!.ToString());
            return;
        }
        if (status != HttpStatusCode.Accepted || location is null)
            throw new RegistryException(RegistryErrorKind.InvalidResponse,
                $"registry {repo.Registry}, repository {repo.Path}, blob upload {digest}: expected 202 with a Location, got HTTP {(int)status}")
            { Registry = repo.Registry, Repository = repo.Path, Subject = digest.ToString(), StatusCode = status };

        var upload = location.IsAbsoluteUri ? location : new Uri(host.ApiUri("").GetLeftPart(UriPartial.Authority) + location.OriginalString);
        if (!location.IsAbsoluteUri && !location.OriginalString.StartsWith('/'))
            throw new RegistryException(RegistryErrorKind.InvalidResponse,
                $"registry {repo.Registry}, repository {repo.Path}, blob upload {digest}: unusable Location \"{location}\"")
            { Registry = repo.Registry, Repository = repo.Path, Subject = digest.ToString() };
        var put = new UriBuilder(upload);
        put.Query = (string.IsNullOrEmpty(put.Query) ? "" : put.Query.TrimStart('?') + "&") + "digest=" + Uri.EscapeDataString(digest.ToString());

        await _transport.ExecuteAsync(new RegistryCall
        {
            Kind = RequestKind.BlobUpload, Host = host, Registry = repo.Registry, Repository = repo.Path, What = $"blob upload {digest}",
            Method = HttpMethod.Put, AbsoluteUri = put.Uri, Scopes = scopes,
            Content = () =>
            {
                var c = content();
                c.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                c.Headers.ContentLength = size;
                return c;
            },
        }, scope, (resp, _) => resp.StatusCode == HttpStatusCode.Created
            ? Task.FromResult(true)
            : throw new RegistryException(RegistryErrorKind.InvalidResponse,
                $"registry {repo.Registry}, repository {repo.Path}, blob upload {digest}: expected 201, got HTTP {(int)resp.StatusCode}")
            { Registry = repo.Registry, Repository = repo.Path, Subject = digest.ToString(), StatusCode = resp.StatusCode }).ConfigureAwait(false);
    }

    /// <summary>
    /// PUTs a manifest under <paramref name="tag"/>, or under its own digest when <paramref name="tag"/> is null.
    /// The registry's Docker-Content-Digest, when sent, must equal the digest of the bytes.
    /// </summary>
    public async Task<PushedManifest> PushManifestAsync(RepositoryName repository, ReadOnlyMemory<byte> manifest, string mediaType, string? tag = null,
        CancellationToken cancellationToken = default)
    {
        if (tag is not null && Reference.ValidateTag(tag) is { } error) throw new FormatException(error);
        var digest = Digest.Sha256(manifest.Span);
        string reference = tag ?? digest.ToString();
        using var scope = new OperationScope(Options.Deadline, cancellationToken);
        var host = PushHost(repository.Registry);
        return await _transport.ExecuteAsync(new RegistryCall
        {
            Kind = RequestKind.ManifestPush, Host = host, Registry = repository.Registry, Repository = repository.Path,
            What = $"manifest {reference}", Method = HttpMethod.Put, RelativePath = $"{repository.Path}/manifests/{reference}",
            Scopes = [PushScope(repository)],
            Content = () =>
            {
                var c = new ReadOnlyMemoryContent(manifest);
                c.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
                return c;
            },
        }, scope, (resp, _) =>
        {
            if (resp.StatusCode != HttpStatusCode.Created)
                throw new RegistryException(RegistryErrorKind.InvalidResponse,
                    $"registry {repository.Registry}, repository {repository.Path}, manifest {reference}: expected 201, got HTTP {(int)resp.StatusCode}")
                { Registry = repository.Registry, Repository = repository.Path, Subject = reference, StatusCode = resp.StatusCode };
            if (resp.Headers.TryGetValues("Docker-Content-Digest", out var v) && v.FirstOrDefault() is { } sent && sent != digest.ToString())
                throw DigestMismatch(repository, $"manifest {reference} (as stored by the registry)", digest, sent);
            return Task.FromResult(new PushedManifest(
                new Descriptor { MediaType = mediaType, Digest = digest.ToString(), Size = manifest.Length },
                resp.Headers.Contains("OCI-Subject")));
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores an OCI artifact that refers to <paramref name="subject"/> (how clip keeps an image's index in the
    /// registry): uploads the empty config and <paramref name="layers"/>, PUTs a manifest with
    /// <c>artifactType</c> and <c>subject</c> by digest and, when the registry does not answer <c>OCI-Subject</c>
    /// (no referrers API, e.g. distribution 2.8), adds it to the <c>sha256-&lt;hex&gt;</c> tag-schema index.
    /// </summary>
    public async Task<Descriptor> PushArtifactAsync(RepositoryName repository, Descriptor subject, string artifactType,
        IReadOnlyList<(ReadOnlyMemory<byte> Data, string MediaType, IReadOnlyDictionary<string, string>? Annotations)> layers,
        IReadOnlyDictionary<string, string>? annotations = null, CancellationToken cancellationToken = default)
    {
        var config = await PushBlobAsync(repository, EmptyJson, MediaTypes.OciEmpty, cancellationToken: cancellationToken).ConfigureAwait(false);
        var layerDescriptors = new List<Descriptor>();
        foreach (var (data, mediaType, layerAnnotations) in layers)
        {
            var d = await PushBlobAsync(repository, data, mediaType, cancellationToken: cancellationToken).ConfigureAwait(false);
            layerDescriptors.Add(d with { Annotations = layerAnnotations?.ToDictionary() });
        }
        if (layerDescriptors.Count == 0)
            layerDescriptors.Add(config); // image-spec: an artifact without content carries the empty descriptor as its one layer.
        var manifest = new Manifest
        {
            SchemaVersion = 2,
            MediaType = MediaTypes.OciManifest,
            ArtifactType = artifactType,
            Config = config,
            Layers = layerDescriptors,
            Subject = new Descriptor { MediaType = subject.MediaType, Digest = subject.Digest, Size = subject.Size },
            Annotations = annotations?.ToDictionary(),
        };
        byte[] bytes = OciJson.Serialize(manifest);
        var pushed = await PushManifestAsync(repository, bytes, MediaTypes.OciManifest, tag: null, cancellationToken).ConfigureAwait(false);
        var descriptor = pushed.Descriptor with { ArtifactType = artifactType, Annotations = annotations?.ToDictionary() };
        if (!pushed.SubjectProcessed)
            await AddToReferrersTagAsync(repository, subject.ParsedDigest, descriptor, cancellationToken).ConfigureAwait(false);
        return descriptor;
    }

    private RegistryHost PushHost(string registry) =>
        Hosts.Resolve(registry).FirstOrDefault(h => h.Can(HostCapabilities.Push))
        ?? throw new RegistryException(RegistryErrorKind.Configuration, $"registry {registry}: no configured host has the push capability (hosts.toml)")
        { Registry = registry };

    private static string Utf8(ReadOnlySpan<byte> b) => Encoding.UTF8.GetString(b);
}
