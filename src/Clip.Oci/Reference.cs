namespace Clip.Oci;

/// <summary>
/// A fully qualified image reference <c>registry/repository[:tag][@digest]</c>, normalised the way
/// docker and containerd do it (distribution/reference v0.5 normalize.go): a name without a registry
/// means <c>docker.io</c>, a single-component docker.io name gains <c>library/</c>, and a reference
/// with neither tag nor digest means <c>:latest</c>.
/// </summary>
public sealed record Reference
{
    /// <summary>The registry host as the user names it ("docker.io", "localhost:5000", "[::1]:5000").</summary>
    public string Registry { get; }

    /// <summary>The repository path inside the registry ("library/ubuntu").</summary>
    public string Repository { get; }

    /// <summary>The tag, or null when only a digest was given.</summary>
    public string? Tag { get; }

    /// <summary>The digest, or null when only a tag was given. When both are present the digest wins.</summary>
    public Digest? Digest { get; }

    public const string DockerHub = "docker.io";
    /// <summary>The host that serves the registry API for docker.io (containerd config/hosts.go).</summary>
    public const string DockerHubApiHost = "registry-1.docker.io";
    public const string DefaultTag = "latest";

    /// <summary>Longest repository name including the registry (distribution/reference NameTotalLengthMax).</summary>
    public const int MaxNameLength = 255;

    /// <summary>Longest tag (distribution-spec: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}).</summary>
    public const int MaxTagLength = 128;

    public Reference(string registry, string repository, string? tag = null, Digest? digest = null)
    {
        string? error = ValidateRegistry(registry) ?? ValidateRepository(repository, registry)
            ?? (tag is null ? null : ValidateTag(tag));
        if (error is not null) throw new FormatException($"invalid reference \"{registry}/{repository}\": {error}");
        if (digest is { IsEmpty: true }) digest = null;
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>The host to send API requests to (docker.io is served by registry-1.docker.io).</summary>
    public string ApiHost => Registry == DockerHub ? DockerHubApiHost : Registry;

    /// <summary>"registry/repository", without tag or digest.</summary>
    public string Name => $"{Registry}/{Repository}";

    /// <summary>The repository this reference points into.</summary>
    public RepositoryName RepositoryName => new(Registry, Repository);

    /// <summary>What to put after /manifests/: the digest if there is one, else the tag (or "latest").</summary>
    public string TagOrDigest => Digest?.ToString() ?? Tag ?? DefaultTag;

    /// <summary>Whether the reference pins content by digest.</summary>
    public bool IsDigested => Digest is not null;

    /// <summary>The same repository at <paramref name="digest"/>, keeping the tag for display.</summary>
    public Reference WithDigest(Digest digest) => new(Registry, Repository, Tag, digest);

    /// <summary>The same repository at <paramref name="tag"/>, without a digest.</summary>
    public Reference WithTag(string tag) => new(Registry, Repository, tag, null);

    /// <summary>Another repository on the same registry.</summary>
    public Reference WithRepository(string repository) => new(Registry, repository, Tag, Digest);

    /// <summary>The canonical string: "docker.io/library/ubuntu:latest", "r.example/a@sha256:…".</summary>
    public override string ToString() =>
        Name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest.Value);

    /// <summary>The short form docker prints ("ubuntu:latest", "user/app:1").</summary>
    public string ToFamiliarString()
    {
        string name = Repository;
        if (Registry == DockerHub)
        {
            if (name.StartsWith("library/", StringComparison.Ordinal) && name.IndexOf('/', 8) < 0) name = name[8..];
        }
        else
        {
            name = Registry + "/" + name;
        }
        return name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest.Value);
    }

    /// <summary>Parses and normalises a reference; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static Reference Parse(string value) =>
        TryParse(value, out var r, out string? error) ? r : throw new FormatException($"invalid reference \"{value}\": {error}");

    public static bool TryParse(string? value, out Reference reference) => TryParse(value, out reference, out _);

    /// <summary>Parses a reference; on failure <paramref name="error"/> says why.</summary>
    public static bool TryParse(string? value, out Reference reference, out string? error)
    {
        reference = null!;
        error = Split(value, out string registry, out string repository, out string? tag, out Digest? digest);
        if (error is not null) return false;
        reference = new Reference(registry, repository, tag ?? (digest is null ? DefaultTag : null), digest);
        return true;
    }

    private static string? Split(string? value, out string registry, out string repository, out string? tag, out Digest? digest)
    {
        registry = repository = "";
        tag = null;
        digest = null;
        if (string.IsNullOrWhiteSpace(value)) return "empty reference";
        if (value.Trim() != value) return "leading or trailing whitespace";
        string rest = value;

        int at = rest.IndexOf('@');
        if (at >= 0)
        {
            string d = rest[(at + 1)..];
            if (!Oci.Digest.TryParse(d, out var parsed))
                return $"invalid digest \"{d}\": expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>";
            digest = parsed;
            rest = rest[..at];
        }

        int slash = rest.LastIndexOf('/');
        int colon = rest.LastIndexOf(':');
        if (colon > slash)
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            if (ValidateTag(tag) is { } tagError) return tagError;
        }
        if (rest.Length == 0) return "missing repository name";

        // distribution/reference splitDockerDomain: the first component is a registry only if it looks like
        // a host (has a dot or a port, is "localhost", or has upper case letters, which repositories cannot).
        int first = rest.IndexOf('/');
        if (first < 0 || (rest.AsSpan(0, first).IndexOfAny('.', ':') < 0 && rest[..first] != "localhost"
                          && rest[..first].ToLowerInvariant() == rest[..first]))
        {
            registry = DockerHub;
            repository = rest;
        }
        else
        {
            registry = rest[..first];
            repository = rest[(first + 1)..];
        }
        if (registry == "index.docker.io") registry = DockerHub;
        if (registry == DockerHub && !repository.Contains('/')) repository = "library/" + repository;

        if (ValidateRegistry(registry) is { } registryError) return registryError;
        if (ValidateRepository(repository, registry) is { } repoError) return repoError;
        if (registry == DockerHub && first < 0 && rest.Length == 64 && rest.All(char.IsAsciiHexDigitLower))
            return "a 64-character hexadecimal string is an image id, not a repository name";
        return null;
    }

    /// <summary>Null when <paramref name="tag"/> is a valid tag, else why not.</summary>
    public static string? ValidateTag(string tag)
    {
        if (tag.Length == 0) return "empty tag";
        if (tag.Length > MaxTagLength) return $"tag longer than {MaxTagLength} characters";
        if (!IsWord(tag[0])) return $"tag \"{tag}\" must start with a letter, digit or underscore";
        foreach (char c in tag)
            if (!IsWord(c) && c is not '.' and not '-') return $"tag \"{tag}\" contains '{c}' (allowed: letters, digits, '_', '.', '-')";
        return null;

        static bool IsWord(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';
    }

    /// <summary>Null when <paramref name="registry"/> is "host[:port]" (a DNS name, IPv4 or [IPv6]), else why not.</summary>
    public static string? ValidateRegistry(string registry)
    {
        if (registry.Length == 0) return "empty registry host";
        string host = registry;
        string? port = null;
        if (host.StartsWith('['))
        {
            int close = host.IndexOf(']');
            if (close < 0) return $"registry \"{registry}\": unterminated IPv6 address";
            string v6 = host[1..close];
            if (v6.Length == 0 || !v6.All(c => char.IsAsciiHexDigit(c) || c == ':'))
                return $"registry \"{registry}\": invalid IPv6 address";
            string after = host[(close + 1)..];
            if (after.Length > 0)
            {
                if (after[0] != ':') return $"registry \"{registry}\": unexpected text after IPv6 address";
                port = after[1..];
            }
        }
        else
        {
            int c = host.IndexOf(':');
            if (c >= 0)
            {
                port = host[(c + 1)..];
                host = host[..c];
            }
            if (host.Length == 0) return $"registry \"{registry}\": empty host name";
            foreach (string label in host.Split('.'))
            {
                if (label.Length == 0) return $"registry \"{registry}\": empty label in host name";
                if (label.StartsWith('-') || label.EndsWith('-')) return $"registry \"{registry}\": host name label \"{label}\" starts or ends with '-'";
                foreach (char ch in label)
                    if (!char.IsAsciiLetterOrDigit(ch) && ch != '-') return $"registry \"{registry}\": host name contains '{ch}'";
            }
        }
        if (port is not null)
        {
            if (port.Length == 0 || !port.All(char.IsAsciiDigit) || port.Length > 5 || int.Parse(port) is 0 or > 65535)
                return $"registry \"{registry}\": invalid port \"{port}\"";
        }
        return null;
    }

    /// <summary>Null when <paramref name="repository"/> is a valid repository path, else why not.</summary>
    public static string? ValidateRepository(string repository, string registry = "")
    {
        if (repository.Length == 0) return "empty repository name";
        if (registry.Length + 1 + repository.Length > MaxNameLength)
            return $"repository name longer than {MaxNameLength} characters";
        foreach (string component in repository.Split('/'))
        {
            if (component.Length == 0) return $"repository \"{repository}\" has an empty path component";
            if (component.Any(char.IsAsciiLetterUpper)) return $"repository name \"{repository}\" must be lowercase";
            // pathComponent: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
            int i = 0;
            if (!char.IsAsciiLetterLower(component[0]) && !char.IsAsciiDigit(component[0]))
                return $"repository path component \"{component}\" must start with a lowercase letter or digit";
            while (i < component.Length)
            {
                char ch = component[i];
                if (char.IsAsciiLetterLower(ch) || char.IsAsciiDigit(ch)) { i++; continue; }
                int start = i;
                if (ch == '.') i++;
                else if (ch == '_') i += i + 1 < component.Length && component[i + 1] == '_' ? 2 : 1;
                else if (ch == '-') while (i < component.Length && component[i] == '-') i++;
                else return $"repository path component \"{component}\" contains '{ch}'";
                if (i >= component.Length || !(char.IsAsciiLetterLower(component[i]) || char.IsAsciiDigit(component[i])))
                    return $"repository path component \"{component}\" has a misplaced separator at position {start}";
            }
        }
        return null;
    }
}
