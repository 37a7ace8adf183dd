using System.Security.Cryptography;
using System.Text;
using Clip.Oci;

namespace Clip.Index;

/// <summary>One layer of an image as the manifest and config describe it.</summary>
public sealed record ImageLayer(Digest Digest, string MediaType, long Size, Digest DiffId);

/// <summary>
/// An image's identity in a .clip file: reference, manifest, platform, config and its ordered
/// layers (lowest first). Chain IDs are derived as image-spec config.md defines them.
/// </summary>
public sealed record ImageInfo(
    string Reference,
    Digest ManifestDigest,
    string ManifestMediaType,
    string Platform,
    Digest ConfigDigest,
    IReadOnlyList<ImageLayer> Layers)
{
    /// <summary>ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).</summary>
    public IReadOnlyList<Digest> ChainIds => ComputeChainIds(Layers.Select(l => l.DiffId));

    public static IReadOnlyList<Digest> ComputeChainIds(IEnumerable<Digest> diffIds)
    {
        var result = new List<Digest>();
        foreach (var diff in diffIds)
        {
            result.Add(result.Count == 0
                ? diff
                : Digest.FromSha256Hash(SHA256.HashData(Encoding.ASCII.GetBytes($"{result[^1]} {diff}"))));
        }
        return result;
    }
}
