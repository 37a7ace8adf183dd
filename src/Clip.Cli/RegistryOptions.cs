using System.CommandLine;
using Clip.Content;
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

    public static Reference ParseReference(string value) =>
        Reference.TryParse(value, out var r, out var error) ? r! : throw new ArgumentException($"invalid image reference \"{value}\": {error}");
}
