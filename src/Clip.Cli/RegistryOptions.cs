using System.CommandLine;
using Clip.Content;
using Clip.Index;
using Clip.Index.Format;
using Clip.Index.Build;
using Clip.Oci;
using Clip.Registry;
using Clip.Registry.Auth;

namespace Clip.Cli;

/// <summary>Options every registry-facing command shares, and what they build.</summary>
internal sealed class RegistryOptions
{
    public Option<bool> PlainHttp { get; } = new("--plain-http") { Description = "Talk plain HTTP to the registry (as for a local docker-registry)" };
    public Option<string?> Platform { get; } = new("--platform") { Description = "Platform to pick from a multi-platform image (os/arch[/variant]); default: this machine's" };
    public Option<string?> Creds { get; } = new("--creds") { Description = "USER:PASSWORD for the registry (default: docker config and credential helpers)", HelpName = "USER:PASSWORD" };
    public Option<string?> HostsDir { get; } = new("--hosts-dir") { Description = "containerd hosts.toml directory (default /etc/containerd/certs.d)", HelpName = "DIR" };
    public Option<string?> Root { get; } = new("--root") { Description = "clip's state directory: index store and cache (default /var/lib/clip as root)", HelpName = "DIR" };

    public void AddTo(Command command)
    {
        command.Options.Add(PlainHttp);
        command.Options.Add(Platform);
        command.Options.Add(Creds);
        command.Options.Add(HostsDir);
        command.Options.Add(Root);
    }

    public RegistryClient Client(ParseResult parse)
    {
        ICredentialProvider? creds = null;
        if (parse.GetValue(Creds) is { } c)
        {
            int colon = c.IndexOf(':');
            if (colon <= 0) throw new ArgumentException("--creds takes USER:PASSWORD");
            creds = new StaticCredentials(c[..colon], c[(colon + 1)..]);
        }
        return new RegistryClient(new RegistryClientOptions
        {
            PlainHttp = parse.GetValue(PlainHttp),
            Credentials = creds,
            HostsDirectory = parse.GetValue(HostsDir) ?? "/etc/containerd/certs.d",
        });
    }

    public Platform? PlatformOf(ParseResult parse) => parse.GetValue(Platform) is { } p ? Oci.Platform.Parse(p) : null;

    public string RootOf(ParseResult parse) => parse.GetValue(Root) ?? DefaultRoot;

    public static string DefaultRoot => Environment.IsPrivilegedProcess
        ? "/var/lib/clip"
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_DATA_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share"), "clip");

    public IndexStore Store(ParseResult parse) => new(Path.Combine(RootOf(parse), "indexes"));

    public ContentOptions Content(ParseResult parse) => new() { CacheDirectory = Path.Combine(RootOf(parse), "cache") };

    /// <summary>
    /// The layer indexes of a registry image: from <paramref name="indexFile"/> when given (it must index that very
    /// image), else from the local store, the registry, or by indexing now. Origin says which.
    /// </summary>
    public async Task<(IReadOnlyList<LayerIndex> Layers, RepositoryName Repository, string Origin)> IndexedImageAsync(RegistryClient client,
        ParseResult parse, Reference reference, string? indexFile, CancellationToken ct)
    {
        if (indexFile is not null)
        {
            var file = ClipIndexFile.Load(indexFile);
            var resolved = await client.ResolveImageAsync(reference, PlatformOf(parse), ct);
            if (file.Image is { } img && img.ManifestDigest != resolved.ManifestDigest)
                throw new InvalidDataException($"{indexFile} indexes image {img.ManifestDigest}, but {reference} is {resolved.ManifestDigest}");
            return (file.ImageLayers(), resolved.Repository, indexFile);
        }
        var provider = new ImageIndexProvider(client, Store(parse), new LayerIndexOptions());
        var image = await provider.GetImageAsync(reference, PlatformOf(parse), allowIndexing: true, cancellationToken: ct);
        string origin = image.Origin switch { IndexOrigin.Store => "local index store", IndexOrigin.Registry => "registry", _ => "indexed now" };
        return (image.Layers, image.Resolved.Repository, origin);
    }

    public static Reference ParseReference(string value) =>
        Reference.TryParse(value, out var r, out var error) ? r! : throw new ArgumentException($"invalid image reference \"{value}\": {error}");
}
