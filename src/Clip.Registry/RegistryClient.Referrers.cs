using System.Net;
using System.Net.Http.Headers;
using Clip.Oci;
using Clip.Registry.Hosts;
using Clip.Registry.Http;

namespace Clip.Registry;

public sealed partial class RegistryClient
{
    /// <summary>
    /// The tag under which a registry without the referrers API keeps the referrers of <paramref name="subject"/>
    /// (distribution-spec v1.1 "Referrers Tag Schema": <c>&lt;alg&gt;-&lt;ref&gt;</c>, truncated to 128 characters).
    /// </summary>
    public static string ReferrersTag(Digest subject)
    {
        string tag = $"{subject.Algorithm}-{subject.Hex}";
        return tag.Length > Reference.MaxTagLength ? tag[..Reference.MaxTagLength] : tag;
    }

    /// <summary>
    /// The manifests that refer to <paramref name="subject"/>, optionally only those of <paramref name="artifactType"/>:
    /// from <c>GET /v2/&lt;name&gt;/referrers/&lt;digest&gt;</c> (following Link pagination), or, when the registry has no
    /// referrers API (404), from the <see cref="ReferrersTag"/> index. Filtering is also applied here, since a
    /// registry may ignore the filter.
    /// </summary>
    public async Task<IReadOnlyList<Descriptor>> ListReferrersAsync(RepositoryName repository, Digest subject, string? artifactType = null,
        CancellationToken cancellationToken = default)
    {
        using var scope = new OperationScope(Options.Deadline, cancellationToken);
        var result = new List<Descriptor>();
        var host = Hosts.Resolve(repository.Registry).FirstOrDefault(h => h.Can(HostCapabilities.Pull))
                   ?? throw new RegistryException(RegistryErrorKind.Configuration, $"registry {repository.Registry}: no host with the pull capability")
                   { Registry = repository.Registry };
        Uri? next = null;
        bool first = true;
        for (int page = 0; first || next is not null; page++)
        {
            if (page > 1000) break;
            var pageUri = next;
            first = false;
            var (found, index, link) = await _transport.ExecuteAsync(new RegistryCall
            {
                Kind = RequestKind.Referrers, Host = host, Registry = repository.Registry, Repository = repository.Path,
                What = $"referrers of {subject}",
                RelativePath = $"{repository.Path}/referrers/{subject}",
                Query = artifactType is null ? null : "artifactType=" + Uri.EscapeDataString(artifactType),
                AbsoluteUri = pageUri,
                Scopes = [PullScope(repository)],
                Configure = req => req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(MediaTypes.OciIndex)),
                PassThrough = s => s == HttpStatusCode.NotFound,
            }, scope, async (resp, ct) =>
            {
                if (resp.StatusCode == HttpStatusCode.NotFound) return (false, (ImageIndex?)null, (Uri?)null);
                byte[] body = await RegistryTransport.ReadLimitedAsync(resp.Content, Options.MaxManifestBytes, $"referrers of {subject}", ct).ConfigureAwait(false);
                Metrics.Bytes(RequestKind.Referrers, body.Length);
                var idx = ParseOrThrow(() => OciJson.Parse<ImageIndex>(body, $"referrers of {subject}"), repository, $"referrers of {subject}");
                return (true, idx, NextLink(resp, resp.RequestMessage?.RequestUri));
            }).ConfigureAwait(false);
            if (!found)
            {
                if (pageUri is not null) break;
                string tag = ReferrersTag(subject);
                Log.ReferrersFallback(_log, repository.Registry, tag);
                var fallback = await ReadReferrersTagAsync(repository, subject, scope).ConfigureAwait(false);
                result.AddRange(fallback?.Manifests ?? []);
                break;
            }
            result.AddRange(index!.Manifests);
            next = link;
        }
        return artifactType is null ? result : result.Where(d => d.ArtifactType == artifactType).ToList();
    }

    /// <summary>The tag-schema index for <paramref name="subject"/>, or null when there is none.</summary>
    private async Task<ImageIndex?> ReadReferrersTagAsync(RepositoryName repo, Digest subject, OperationScope scope)
    {
        try
        {
            var m = await GetManifestAsync(repo, ReferrersTag(subject), scope).ConfigureAwait(false);
            if (!m.IsIndex)
                throw new RegistryException(RegistryErrorKind.InvalidResponse,
                    $"registry {repo.Registry}, repository {repo.Path}: tag {ReferrersTag(subject)} is a {m.MediaType}, not a referrers index")
                { Registry = repo.Registry, Repository = repo.Path, Subject = subject.ToString() };
            return ParseOrThrow(m.ParseIndex, repo, $"referrers index {ReferrersTag(subject)}");
        }
        catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// Adds <paramref name="referrer"/> to the tag-schema index of <paramref name="subject"/> (read, add if absent,
    /// PUT). Concurrent writers can race, as the spec acknowledges; the last PUT wins.
    /// </summary>
    private async Task AddToReferrersTagAsync(RepositoryName repo, Digest subject, Descriptor referrer, CancellationToken ct)
    {
        using var scope = new OperationScope(Options.Deadline, ct);
        var existing = await ReadReferrersTagAsync(repo, subject, scope).ConfigureAwait(false);
        var manifests = existing?.Manifests.ToList() ?? [];
        if (manifests.Any(d => d.Digest == referrer.Digest)) return;
        manifests.Add(referrer);
        var index = new ImageIndex { SchemaVersion = 2, MediaType = MediaTypes.OciIndex, Manifests = manifests };
        await PushManifestAsync(repo, OciJson.Serialize(index), MediaTypes.OciIndex, ReferrersTag(subject), ct).ConfigureAwait(false);
    }

    /// <summary>The <c>rel="next"</c> target of an RFC 8288 Link header, resolved against the request URL.</summary>
    internal static Uri? NextLink(HttpResponseMessage resp, Uri? requestUri)
    {
        if (!resp.Headers.TryGetValues("Link", out var values)) return null;
        foreach (string header in values)
        {
            foreach (string part in header.Split(','))
            {
                string p = part.Trim();
                int lt = p.IndexOf('<'), gt = p.IndexOf('>');
                if (lt != 0 || gt < 0) continue;
                string rest = p[(gt + 1)..];
                if (!rest.Replace(" ", "").Contains("rel=\"next\"", StringComparison.OrdinalIgnoreCase)
                    && !rest.Replace(" ", "").Contains("rel=next", StringComparison.OrdinalIgnoreCase)) continue;
                string target = p[1..gt];
                if (Uri.TryCreate(target, UriKind.Absolute, out var abs) && abs.Scheme is "http" or "https") return abs;
                if (requestUri is not null && Uri.TryCreate(requestUri, target, out var rel)) return rel;
            }
        }
        return null;
    }
}
