using Clip.Oci;

namespace Clip.Registry.Tests;

/// <summary>Reference parsing follows docker's normalisation (distribution/reference normalize.go).</summary>
public class ReferenceTests
{
    private const string D = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    [Theory]
    // input, registry, repository, tag, digest, canonical
    [InlineData("ubuntu", "docker.io", "library/ubuntu", "latest", null, "docker.io/library/ubuntu:latest")]
    [InlineData("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", null, "docker.io/library/ubuntu:22.04")]
    [InlineData("library/ubuntu", "docker.io", "library/ubuntu", "latest", null, "docker.io/library/ubuntu:latest")]
    [InlineData("docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", null, "docker.io/library/ubuntu:latest")]
    [InlineData("index.docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", null, "docker.io/library/ubuntu:latest")]
    [InlineData("user/app", "docker.io", "user/app", "latest", null, "docker.io/user/app:latest")]
    [InlineData("user/app/sub:v1", "docker.io", "user/app/sub", "v1", null, "docker.io/user/app/sub:v1")]
    [InlineData("ghcr.io/org/app:1.2.3", "ghcr.io", "org/app", "1.2.3", null, "ghcr.io/org/app:1.2.3")]
    [InlineData("localhost/app", "localhost", "app", "latest", null, "localhost/app:latest")]
    [InlineData("localhost:5000/app:dev", "localhost:5000", "app", "dev", null, "localhost:5000/app:dev")]
    [InlineData("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", "latest", null, "127.0.0.1:5000/a/b:latest")]
    [InlineData("[::1]:5000/app:x", "[::1]:5000", "app", "x", null, "[::1]:5000/app:x")]
    [InlineData("registry.example.com:443/team/app", "registry.example.com:443", "team/app", "latest", null, "registry.example.com:443/team/app:latest")]
    [InlineData("ubuntu@" + D, "docker.io", "library/ubuntu", null, D, "docker.io/library/ubuntu@" + D)]
    [InlineData("ubuntu:22.04@" + D, "docker.io", "library/ubuntu", "22.04", D, "docker.io/library/ubuntu:22.04@" + D)]
    [InlineData("localhost:5000/app@" + D, "localhost:5000", "app", null, D, "localhost:5000/app@" + D)]
    [InlineData("Example.COM/app", "Example.COM", "app", "latest", null, "Example.COM/app:latest")]
    [InlineData("a.b-c/d__e/x--y.z", "a.b-c", "d__e/x--y.z", "latest", null, "a.b-c/d__e/x--y.z:latest")]
    [InlineData("app:TAG_with.dots-1", "docker.io", "library/app", "TAG_with.dots-1", null, "docker.io/library/app:TAG_with.dots-1")]
    public void Parses_and_normalises(string input, string registry, string repository, string? tag, string? digest, string canonical)
    {
        var r = Reference.Parse(input);
        Assert.Equal(registry, r.Registry);
        Assert.Equal(repository, r.Repository);
        Assert.Equal(tag, r.Tag);
        Assert.Equal(digest, r.Digest?.ToString());
        Assert.Equal(canonical, r.ToString());
        Assert.Equal(r, Reference.Parse(r.ToString()));
    }

    [Theory]
    [InlineData("", "empty reference")]
    [InlineData(" ubuntu", "whitespace")]
    [InlineData("Ubuntu", "must be lowercase")]
    [InlineData("docker.io/Library/ubuntu", "must be lowercase")]
    [InlineData("ubuntu:", "empty tag")]
    [InlineData("ubuntu:-x", "must start with")]
    [InlineData("ubuntu:a+b", "contains '+'")]
    [InlineData("ubuntu@sha256:abc", "invalid digest")]
    [InlineData("ubuntu@md5:d41d8cd98f00b204e9800998ecf8427e", "invalid digest")]
    [InlineData("ubuntu@sha256:6C3C624B58DBBCD3C0DD82B4C53F04194D1247C6EEBDAAB7C610CF7D66709B3B", "invalid digest")]
    [InlineData("a//b", "empty path component")]
    [InlineData("a/b/", "empty path component")]
    [InlineData("example.com/", "empty repository name")]
    [InlineData("example.com:99999/app", "invalid port")]
    [InlineData("example.com:/app", "invalid port")]
    [InlineData("-bad.com/app", "starts or ends with '-'")]
    [InlineData("bad_host.com/app", "contains '_'")]
    [InlineData("[::1/app", "unterminated IPv6")]
    [InlineData("app/-x", "must start with a lowercase letter or digit")]
    [InlineData("app/x-", "misplaced separator")]
    [InlineData("app/x...y", "misplaced separator")]
    [InlineData("app/x___y", "misplaced separator")]
    [InlineData("6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b", "image id")]
    public void Rejects_invalid_references_saying_why(string input, string why)
    {
        Assert.False(Reference.TryParse(input, out _, out string? error));
        Assert.Contains(why, error);
        var e = Assert.Throws<FormatException>(() => Reference.Parse(input));
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void Rejects_a_tag_longer_than_128_characters()
    {
        Assert.True(Reference.TryParse("app:" + new string('a', 128), out _));
        Assert.False(Reference.TryParse("app:" + new string('a', 129), out _, out string? error));
        Assert.Contains("longer than 128", error);
    }

    [Fact]
    public void Rejects_a_name_longer_than_255_characters()
    {
        Assert.False(Reference.TryParse("example.com/" + new string('a', 250), out _, out string? error));
        Assert.Contains("longer than 255", error);
    }

    [Fact]
    public void Docker_hub_is_served_by_registry_1()
    {
        Assert.Equal("registry-1.docker.io", Reference.Parse("ubuntu").ApiHost);
        Assert.Equal("localhost:5000", Reference.Parse("localhost:5000/x").ApiHost);
    }

    [Theory]
    [InlineData("ubuntu", "ubuntu:latest")]
    [InlineData("docker.io/user/app:1", "user/app:1")]
    [InlineData("docker.io/library/a/b", "library/a/b:latest")]
    [InlineData("ghcr.io/org/app:1", "ghcr.io/org/app:1")]
    public void Familiar_form_matches_docker(string input, string familiar) =>
        Assert.Equal(familiar, Reference.Parse(input).ToFamiliarString());

    [Fact]
    public void Digest_wins_over_tag_for_fetching()
    {
        var r = Reference.Parse("app:v1@" + D);
        Assert.Equal(D, r.TagOrDigest);
        Assert.Equal("latest", Reference.Parse("app").TagOrDigest);
        Assert.True(r.IsDigested);
        Assert.Equal("docker.io/library/app:v1@" + D, r.ToString());
        Assert.Equal("docker.io/library/app:v2", r.WithTag("v2").ToString());
    }

    [Fact]
    public void Repository_name_parses_like_a_reference()
    {
        var n = RepositoryName.Parse("localhost:5000/team/app:ignored");
        Assert.Equal("localhost:5000", n.Registry);
        Assert.Equal("team/app", n.Path);
        Assert.Equal("docker.io/library/busybox", RepositoryName.Parse("busybox").ToString());
        Assert.Throws<FormatException>(() => new RepositoryName("x.io", "Bad"));
    }
}
