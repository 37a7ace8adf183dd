using Clip.Registry.Auth;

namespace Clip.Registry.Tests.Auth;

public class AuthChallengeTests
{
    [Fact]
    public void Parses_a_docker_hub_bearer_challenge()
    {
        var c = Assert.Single(AuthChallenge.Parse(
            "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/ubuntu:pull\""));
        Assert.True(c.IsBearer);
        Assert.Equal("https://auth.docker.io/token", c.Realm);
        Assert.Equal("registry.docker.io", c.Service);
        Assert.Equal(["repository:library/ubuntu:pull"], c.Scopes);
        Assert.Null(c.Error);
    }

    [Fact]
    public void Parses_insufficient_scope_with_several_scopes_and_spaces()
    {
        var c = Assert.Single(AuthChallenge.Parse(
            "bearer  realm = \"http://127.0.0.1:1/token\" , service=\"svc\", scope=\"repository:a:pull,push repository:b:pull\", error=\"insufficient_scope\""));
        Assert.True(c.IsBearer);
        Assert.Equal("http://127.0.0.1:1/token", c.Realm);
        Assert.Equal(["repository:a:pull,push", "repository:b:pull"], c.Scopes);
        Assert.Equal("insufficient_scope", c.Error);
    }

    [Fact]
    public void Parses_several_challenges_in_one_header_and_across_headers()
    {
        var all = AuthChallenge.Parse(["Basic realm=\"basic\", Bearer realm=\"https://r/t\",service=\"s\"", "Negotiate"]);
        Assert.Equal(3, all.Count);
        Assert.True(all[0].IsBasic);
        Assert.Equal("basic", all[0].Realm);
        Assert.True(all[1].IsBearer);
        Assert.Equal("s", all[1].Service);
        Assert.Equal("Negotiate", all[2].Scheme);
    }

    [Fact]
    public void Handles_escapes_and_unquoted_values()
    {
        var c = Assert.Single(AuthChallenge.Parse("Bearer realm=\"a\\\"b\",service=svc,scope=repository:x:pull"));
        Assert.Equal("a\"b", c.Realm);
        Assert.Equal("svc", c.Service);
        Assert.Equal(["repository:x:pull"], c.Scopes);
    }

    [Theory]
    [InlineData("")]
    [InlineData(",,,")]
    [InlineData("=\"x\"")]
    [InlineData("Bearer realm=\"unterminated")]
    public void Never_throws_on_garbage(string header) => AuthChallenge.Parse(header);
}
