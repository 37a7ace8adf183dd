using Clip.Registry.Hosts;
using Clip.Testing;

namespace Clip.Registry.Tests.Hosts;

/// <summary>hosts.toml as containerd documents it (docs/hosts.md) and parses it (config/hosts.go).</summary>
public class HostsFileTests
{
    [Fact]
    public void Hosts_keep_file_order_and_server_comes_last()
    {
        var f = HostsFile.Parse("""
            server = "https://registry-1.docker.io"

            [host."https://z-mirror.example"]
              capabilities = ["pull"]
            [host."https://a-mirror.internal:5000"]
              capabilities = ["pull", "resolve"]
            [host."http://m.local"]
            """, "/etc/containerd/certs.d/docker.io");
        Assert.Equal(["https://z-mirror.example", "https://a-mirror.internal:5000", "http://m.local", "https://registry-1.docker.io"],
            f.Entries.Select(e => e.Server ?? "").ToArray());
        Assert.Equal(HostCapabilities.Pull, f.Entries[0].Capabilities);
        Assert.Equal(HostCapabilities.Pull | HostCapabilities.Resolve, f.Entries[1].Capabilities);
        Assert.Equal(HostCapabilities.All, f.Entries[2].Capabilities);
        Assert.Equal("a-mirror.internal:5000", f.Entries[1].Authority);
        Assert.Equal("http", f.Entries[2].Scheme);
        Assert.All(f.Entries, e => Assert.Equal("/v2", e.ApiPath));
    }

    [Fact]
    public void No_server_means_the_namespace_itself()
    {
        var f = HostsFile.Parse("[host.\"https://mirror\"]\n", "/d");
        Assert.Equal(2, f.Entries.Count);
        Assert.Null(f.Entries[1].Server);
    }

    [Theory]
    [InlineData("https://mirror", false, "/v2")]
    [InlineData("https://mirror/", false, "/v2")]
    [InlineData("https://mirror/us", false, "/us/v2")]
    [InlineData("https://mirror/us/v2", false, "/us/v2")]
    [InlineData("https://mirror/v2/upstream", true, "/v2/upstream")]
    [InlineData("https://mirror/a/../b/./c", false, "/b/c/v2")]
    [InlineData("mirror.example", false, "/v2")]
    public void Api_path_follows_override_path(string url, bool overridePath, string apiPath)
    {
        var f = HostsFile.Parse($"[host.\"{url}\"]\noverride_path = {(overridePath ? "true" : "false")}\n", "/d");
        Assert.Equal(apiPath, f.Entries[0].ApiPath);
    }

    [Fact]
    public void Bare_host_names_default_to_https()
    {
        var f = HostsFile.Parse("server = \"registry.example:5000\"\n", "/d");
        Assert.Equal("https", f.Entries[0].Scheme);
        Assert.Equal("registry.example:5000", f.Entries[0].Authority);
    }

    [Fact]
    public void Tls_and_header_fields_in_every_documented_shape()
    {
        var f = HostsFile.Parse("""
            [host."https://one"]
              ca = "one.pem"
              skip_verify = false
              [host."https://one".header]
                x-custom-1 = "custom header"
                x-custom-2 = ["value1", "value2"]
            [host."https://two"]
              ca = ["/etc/certs/a.pem", "b.pem"]
              client = [["/etc/certs/client.cert", "/etc/certs/client.key"], ["/etc/certs/client.pem", ""]]
            [host."https://three"]
              client = "client.pem"
              skip_verify = true
            [host."https://four"]
              client = ["c1.pem", "/abs/c2.pem"]
              dial_timeout = "1m30s"
            """, "/etc/containerd/certs.d/r.example");
        var one = f.Entries[0];
        Assert.Equal(["/etc/containerd/certs.d/r.example/one.pem"], one.CaFiles);
        Assert.False(one.SkipVerify);
        Assert.Equal(["custom header"], one.Headers["x-custom-1"]);
        Assert.Equal(["value1", "value2"], one.Headers["X-Custom-2"]);
        var two = f.Entries[1];
        Assert.Equal(["/etc/certs/a.pem", "/etc/containerd/certs.d/r.example/b.pem"], two.CaFiles);
        Assert.Equal([new ClientCertificate("/etc/certs/client.cert", "/etc/certs/client.key"), new ClientCertificate("/etc/certs/client.pem", null)],
            two.ClientCertificates);
        var three = f.Entries[2];
        Assert.True(three.SkipVerify);
        Assert.Equal([new ClientCertificate("/etc/containerd/certs.d/r.example/client.pem", null)], three.ClientCertificates);
        var four = f.Entries[3];
        Assert.Equal(2, four.ClientCertificates.Count);
        Assert.Equal(TimeSpan.FromSeconds(90), four.DialTimeout);
        Assert.Null(f.Entries[4].SkipVerify);
    }

    [Theory]
    [InlineData("capabilities = [\"pull\", \"fly\"]", "unknown capability \"fly\"")]
    [InlineData("skip_verify = \"yes\"", "skip_verify must be a boolean")]
    [InlineData("ca = 5", "ca must be a string or a list of strings")]
    [InlineData("client = [[\"a\"]]", "client must be")]
    [InlineData("server = \"ftp://x\"", "not an http(s) URL")]
    [InlineData("dial_timeout = \"soon\"", "invalid dial_timeout")]
    [InlineData("server = ", "malformed TOML")]
    [InlineData("host = 3", "\"host\" must be a table")]
    public void Bad_files_fail_with_the_file_and_the_problem(string toml, string why)
    {
        var e = Assert.Throws<RegistryException>(() => HostsFile.Parse(toml, "/d", "/d/hosts.toml"));
        Assert.Equal(RegistryErrorKind.Configuration, e.Kind);
        Assert.Contains("/d/hosts.toml", e.Message);
        Assert.Contains(why, e.Message);
    }
}

/// <summary>Host resolution: certs.d lookup order, defaults, localhost and plain HTTP (containerd ConfigureHosts).</summary>
public class RegistryHostsTests
{
    [Fact]
    public void Without_configuration_docker_io_goes_to_registry_1_over_https()
    {
        var h = Assert.Single(new RegistryHosts(null).Resolve("docker.io"));
        Assert.Equal("https://registry-1.docker.io/v2", h.ToString());
        Assert.Equal(HostCapabilities.All, h.Capabilities);
        Assert.Null(h.MirrorOf);
    }

    [Theory]
    [InlineData("registry.example", false, "https", false)]
    [InlineData("registry.example", true, "http", false)]
    [InlineData("localhost", false, "https", false)]
    [InlineData("localhost:443", false, "https", false)]
    [InlineData("localhost:80", false, "http", false)]
    [InlineData("localhost:5000", false, "https", true)]
    [InlineData("127.0.0.1:5000", false, "https", true)]
    [InlineData("127.0.0.2:5000", false, "https", true)]
    [InlineData("[::1]:5000", false, "https", true)]
    [InlineData("localhost:5000", true, "http", false)]
    public void Default_scheme_matches_containerd(string registry, bool plainHttp, string scheme, bool fallback)
    {
        var h = Assert.Single(new RegistryHosts(null, plainHttp).Resolve(registry));
        Assert.Equal(scheme, h.Scheme);
        Assert.Equal(fallback, h.HttpFallback);
        Assert.Equal(registry, h.Authority);
        if (fallback) Assert.True(h.SkipVerify);
    }

    [Fact]
    public void Localhost_fallback_can_be_turned_off()
    {
        var h = Assert.Single(new RegistryHosts(null, localhostHttpFallback: false).Resolve("localhost:5000"));
        Assert.Equal("https", h.Scheme);
        Assert.False(h.HttpFallback);
    }

    [Fact]
    public void Host_directories_are_searched_port_form_first_then_default()
    {
        Assert.Equal(["r.example_5000_", "r.example:5000", "_default"], RegistryHosts.HostDirectoryCandidates("r.example:5000"));
        Assert.Equal(["r.example", "_default"], RegistryHosts.HostDirectoryCandidates("r.example"));
        Assert.Equal(["[::1]_5000_", "[::1]:5000", "_default"], RegistryHosts.HostDirectoryCandidates("[::1]:5000"));

        using var dir = new TempDir();
        Directory.CreateDirectory(dir.Combine("_default"));
        Directory.CreateDirectory(dir.Combine("r.example:5000"));
        var hosts = new RegistryHosts(dir.Path);
        Assert.Equal(dir.Combine("r.example:5000"), hosts.FindHostDirectory("r.example:5000"));
        Directory.CreateDirectory(dir.Combine("r.example_5000_"));
        Assert.Equal(dir.Combine("r.example_5000_"), hosts.FindHostDirectory("r.example:5000"));
        Assert.Equal(dir.Combine("_default"), hosts.FindHostDirectory("other.example"));
    }

    [Fact]
    public void Mirrors_come_first_carry_ns_and_the_registry_is_the_fallback()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.Combine("docker.io"));
        File.WriteAllText(dir.Combine("docker.io", "hosts.toml"), """
            server = "https://registry-1.docker.io"
            [host."https://mirror.internal"]
              capabilities = ["pull", "resolve"]
              [host."https://mirror.internal".header]
                x-mirror-token = "abc"
            [host."http://public-mirror:8080/cache"]
              capabilities = ["pull"]
            """);
        var hosts = new RegistryHosts(dir.Path).Resolve("docker.io");
        Assert.Equal(3, hosts.Count);
        Assert.Equal(new Uri("https://mirror.internal/v2/library/x/manifests/latest?ns=docker.io"), hosts[0].ApiUri("library/x/manifests/latest"));
        Assert.Equal(["abc"], hosts[0].Headers["x-mirror-token"]);
        Assert.Equal(new Uri("http://public-mirror:8080/cache/v2/library/x/blobs/sha256:1?ns=docker.io"), hosts[1].ApiUri("library/x/blobs/sha256:1"));
        Assert.False(hosts[1].Can(HostCapabilities.Resolve));
        Assert.Equal("registry-1.docker.io", hosts[2].Authority);
        Assert.True(hosts[2].Can(HostCapabilities.Push));
    }

    [Fact]
    public void Default_directory_applies_to_any_registry_and_keeps_the_registry_as_server()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.Combine("_default"));
        File.WriteAllText(dir.Combine("_default", "hosts.toml"), "[host.\"https://cache.example\"]\ncapabilities = [\"pull\", \"resolve\"]\n");
        var hosts = new RegistryHosts(dir.Path).Resolve("quay.io");
        Assert.Equal(["cache.example", "quay.io"], hosts.Select(h => h.Authority).ToArray());
        Assert.Equal("quay.io", hosts[0].MirrorOf);
        Assert.Null(hosts[1].MirrorOf);
    }

    [Fact]
    public void Http_host_with_tls_settings_tries_https_first()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.Combine("r.example"));
        File.WriteAllText(dir.Combine("r.example", "hosts.toml"), """
            [host."http://m1:5000"]
              skip_verify = true
            [host."http://m2:80"]
              skip_verify = true
            [host."http://m3:5000"]
            """);
        var hosts = new RegistryHosts(dir.Path).Resolve("r.example");
        Assert.Equal(("https", true), (hosts[0].Scheme, hosts[0].HttpFallback));
        Assert.Equal(("http", false), (hosts[1].Scheme, hosts[1].HttpFallback));
        Assert.Equal(("http", false), (hosts[2].Scheme, hosts[2].HttpFallback));
    }

    [Fact]
    public void Docker_style_certificate_files_apply_without_hosts_toml()
    {
        using var dir = new TempDir();
        string d = dir.Combine("r.example:5000");
        Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(d, "ca.crt"), "");
        File.WriteAllText(Path.Combine(d, "client.cert"), "");
        File.WriteAllText(Path.Combine(d, "client.key"), "");
        var h = Assert.Single(new RegistryHosts(dir.Path).Resolve("r.example:5000"));
        Assert.Equal([Path.Combine(d, "ca.crt")], h.CaFiles);
        Assert.Equal([new ClientCertificate(Path.Combine(d, "client.cert"), Path.Combine(d, "client.key"))], h.ClientCertificates);
        Assert.Equal("r.example:5000", h.Authority);
    }

    [Fact]
    public void Hosts_with_no_entries_for_a_capability_are_an_error_not_a_silent_upstream()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.Combine("r.example"));
        File.WriteAllText(dir.Combine("r.example", "hosts.toml"), "server = \"https://r.example\"\ncapabilities = [\"pull\"]\n");
        using var client = new RegistryClient(new RegistryClientOptions { HostsDirectory = dir.Path });
        var e = Assert.Throws<RegistryException>(() => client.PushManifestAsync(new Clip.Oci.RepositoryName("r.example", "a"), "{}"u8.ToArray(), "x").GetAwaiter().GetResult());
        Assert.Equal(RegistryErrorKind.Configuration, e.Kind);
        Assert.Contains("push capability", e.Message);
    }
}
