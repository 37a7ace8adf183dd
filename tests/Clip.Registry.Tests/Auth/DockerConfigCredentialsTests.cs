using System.Text;
using Clip.Registry.Auth;
using Clip.Testing;

namespace Clip.Registry.Tests.Auth;

/// <summary>docker's config.json: auths, credsStore and credHelpers with a real helper executable.</summary>
public class DockerConfigCredentialsTests : IDisposable
{
    private readonly TempDir _dir = new("clip-dockercfg");
    private readonly string _bin;

    public DockerConfigCredentialsTests()
    {
        _bin = _dir.Combine("bin");
        Directory.CreateDirectory(_bin);
        // A docker-credential-helpers compatible helper: "get" reads the server URL on stdin and answers JSON.
        WriteHelper("test", """
            #!/bin/sh
            [ "$1" = "get" ] || { echo "unsupported $1" >&2; exit 1; }
            read server
            echo "$server" >> "$(dirname "$0")/asked.log"
            case "$server" in
              helper.example|https://index.docker.io/v1/) echo '{"ServerURL":"'"$server"'","Username":"helper-user","Secret":"helper-pass"}' ;;
              token.example) echo '{"ServerURL":"token.example","Username":"<token>","Secret":"refresh-123"}' ;;
              broken.example) echo 'not json' ;;
              *) echo "credentials not found in native keychain"; exit 1 ;;
            esac
            """);
        WriteHelper("slow", "#!/bin/sh\nsleep 30\n");
    }

    private void WriteHelper(string name, string script)
    {
        string path = Path.Combine(_bin, "docker-credential-" + name);
        File.WriteAllText(path, script.Replace("\r", ""));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private DockerConfigCredentials Provider(string json, TimeSpan? helperTimeout = null)
    {
        File.WriteAllText(_dir.Combine("config.json"), json);
        return new DockerConfigCredentials(_dir.Path, _bin + ":" + Environment.GetEnvironmentVariable("PATH"), helperTimeout: helperTimeout);
    }

    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    [Fact]
    public async Task Reads_auths_in_every_form()
    {
        var p = Provider($$"""
            {
              "auths": {
                "https://index.docker.io/v1/": { "auth": "{{B64("hubuser:hub:pass")}}" },
                "r1.example": { "username": "u1", "password": "p1" },
                "https://r2.example:5000": { "auth": "{{B64("u2:p2")}}" },
                "http://r3.example/v1/": { "auth": "{{B64("u3:p3")}}" },
                "r4.example": { "identitytoken": "idtok" }
              }
            }
            """);
        var hub = await p.GetAsync("docker.io", default);
        Assert.Equal(("hubuser", "hub:pass"), (hub!.Username, hub.Password));
        Assert.Equal("hubuser", (await p.GetAsync("registry-1.docker.io", default))!.Username);
        Assert.Equal(("u1", "p1"), ((await p.GetAsync("r1.example", default))!.Username, (await p.GetAsync("r1.example", default))!.Password));
        Assert.Equal("u2", (await p.GetAsync("r2.example:5000", default))!.Username);
        Assert.Equal("u3", (await p.GetAsync("r3.example", default))!.Username);
        var r4 = await p.GetAsync("r4.example", default);
        Assert.Equal("idtok", r4!.IdentityToken);
        Assert.Null(r4.Username);
        Assert.Null(await p.GetAsync("unknown.example", default));
    }

    [Fact]
    public async Task Cred_helpers_win_per_registry_and_get_the_server_url_on_stdin()
    {
        var p = Provider("""
            { "auths": { "helper.example": { "username": "file", "password": "file" } },
              "credHelpers": { "helper.example": "test", "token.example": "test", "docker.io": "test" } }
            """);
        var c = await p.GetAsync("helper.example", default);
        Assert.Equal(("helper-user", "helper-pass"), (c!.Username, c.Password));
        Assert.Contains("credential helper test", c.Source);
        var t = await p.GetAsync("token.example", default);
        Assert.Equal("refresh-123", t!.IdentityToken);
        Assert.Null(t.Username);
        // Docker Hub is asked for by its index URL, as docker does.
        Assert.Equal("helper-user", (await p.GetAsync("docker.io", default))!.Username);
        var asked = File.ReadAllLines(Path.Combine(_bin, "asked.log"));
        Assert.Equal(["helper.example", "token.example", "https://index.docker.io/v1/"], asked);
    }

    [Fact]
    public async Task Creds_store_applies_to_all_and_falls_back_to_auths_when_it_has_nothing()
    {
        var p = Provider("""
            { "credsStore": "test", "auths": { "other.example": { "username": "o", "password": "p" } } }
            """);
        Assert.Equal("helper-user", (await p.GetAsync("helper.example", default))!.Username);
        Assert.Equal("o", (await p.GetAsync("other.example", default))!.Username);
        Assert.Null(await p.GetAsync("nothing.example", default));
    }

    [Fact]
    public async Task Broken_missing_or_hanging_helpers_mean_no_credentials_not_a_crash()
    {
        var p = Provider("""{ "credHelpers": { "broken.example": "test", "missing.example": "nosuchhelper", "slow.example": "slow" } }""",
            TimeSpan.FromMilliseconds(500));
        Assert.Null(await p.GetAsync("broken.example", default));
        Assert.Null(await p.GetAsync("missing.example", default));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Null(await p.GetAsync("slow.example", default));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Malformed_config_is_a_configuration_error_naming_the_file()
    {
        var p = Provider("{ \"auths\": { \"x\": { \"auth\": \"%%%\" } } }");
        var e = await Assert.ThrowsAsync<RegistryException>(async () => await p.GetAsync("x", default));
        Assert.Equal(RegistryErrorKind.Configuration, e.Kind);
        Assert.Contains("config.json", e.Message);
        Assert.Contains("not base64", e.Message);
        // The secret itself never appears in a message.
        var p2 = Provider("{ \"auths\": { \"x\": { \"auth\": \"" + B64("nocolon-secret") + "\" } } }");
        var e2 = await Assert.ThrowsAsync<RegistryException>(async () => await p2.GetAsync("x", default));
        Assert.DoesNotContain("nocolon-secret", e2.Message);
    }

    [Fact]
    public async Task Missing_config_means_anonymous()
    {
        var p = new DockerConfigCredentials(_dir.Combine("nowhere"));
        Assert.Null(await p.GetAsync("docker.io", default));
    }

    [Fact]
    public async Task Config_edits_are_picked_up()
    {
        var p = Provider("""{ "auths": { "r.example": { "username": "a", "password": "1" } } }""");
        Assert.Equal("a", (await p.GetAsync("r.example", default))!.Username);
        File.WriteAllText(_dir.Combine("config.json"), """{ "auths": { "r.example": { "username": "bb", "password": "22" } } }""");
        File.SetLastWriteTimeUtc(_dir.Combine("config.json"), DateTime.UtcNow.AddSeconds(5));
        Assert.Equal("bb", (await p.GetAsync("r.example", default))!.Username);
    }

    [Fact]
    public void Credentials_never_print_their_secrets()
    {
        var c = new RegistryCredential("alice", "s3cret", null);
        Assert.DoesNotContain("s3cret", c.ToString());
        var t = new RegistryCredential(null, null, "tok-xyz");
        Assert.DoesNotContain("tok-xyz", t.ToString());
    }

    public void Dispose() => _dir.Dispose();
}
