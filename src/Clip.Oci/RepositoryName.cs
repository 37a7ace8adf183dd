namespace Clip.Oci;

/// <summary>A repository on a registry, "registry/path" — what blob and upload requests are addressed to.</summary>
public sealed record RepositoryName
{
    public RepositoryName(string registry, string path)
    {
        string? error = Reference.ValidateRegistry(registry) ?? Reference.ValidateRepository(path, registry);
        if (error is not null) throw new FormatException($"invalid repository \"{registry}/{path}\": {error}");
        Registry = registry;
        Path = path;
    }

    /// <summary>The registry host as the user names it ("docker.io", "localhost:5000").</summary>
    public string Registry { get; }

    /// <summary>The repository path ("library/ubuntu").</summary>
    public string Path { get; }

    /// <summary>Parses "registry/path" (or a docker-style short name) the way <see cref="Reference.Parse"/> does, ignoring any tag or digest.</summary>
    public static RepositoryName Parse(string value)
    {
        var r = Reference.Parse(value);
        return new RepositoryName(r.Registry, r.Repository);
    }

    public override string ToString() => $"{Registry}/{Path}";
}
