using System.Text.Json;
using Clip.Testing;

namespace Clip.Cli.Tests;

public class IndexInspectCatTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly Dictionary<string, byte[]> _files = [];

    public void Dispose() => _dir.Dispose();

    private string BuildLayout()
    {
        var rng = new Random(8);
        byte[] R(int n) { var b = new byte[n]; rng.NextBytes(b); return b; }
        _files["/usr/lib/big.so"] = R(3_000_000);
        _files["/etc/os-release"] = "PRETTY_NAME=\"clip test\"\n"u8.ToArray();
        _files["/app/main.py"] = "print(42)\n"u8.ToArray();
        var layout = new OciLayoutBuilder(_dir.Combine("layout"));
        layout.AddImage("v1", [
            OciLayoutBuilder.Layer.Gzip(new LayerBuilder().Dir("etc").File("etc/os-release", _files["/etc/os-release"]).File("etc/gone", "x")
                .File("usr/lib/big.so", _files["/usr/lib/big.so"]).Symlink("lib", "usr/lib")),
            OciLayoutBuilder.Layer.Gzip(new LayerBuilder().Whiteout("etc/gone").File("app/main.py", _files["/app/main.py"])),
        ]);
        return _dir.Combine("layout");
    }

    [Fact]
    public async Task Index_then_inspect_then_cat_round_trips()
    {
        string layout = BuildLayout();
        string clip = _dir.Combine("img.clip");
        var r = await CliRunner.RunAsync("index", "--oci-layout", $"{layout}:v1", "--out", clip, "--span-size", "0.25");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("2 layers", r.Stderr);

        var summary = await CliRunner.RunAsync("inspect", clip);
        Assert.Equal(0, summary.ExitCode);
        Assert.Contains("entries", summary.Text);
        Assert.Contains("linux/amd64", summary.Text);

        var json = await CliRunner.RunAsync("inspect", clip, "--json");
        var entries = json.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var byPath = entries.ToDictionary(e => e.GetProperty("path").GetString()!);
        Assert.False(byPath.ContainsKey("/etc/gone"));
        Assert.Equal("reg", byPath["/usr/lib/big.so"].GetProperty("type").GetString());
        Assert.Equal(3_000_000, byPath["/usr/lib/big.so"].GetProperty("size").GetInt64());
        Assert.Equal("usr/lib", byPath["/lib"].GetProperty("linkTarget").GetString());
        Assert.Equal(420, byPath["/etc/os-release"].GetProperty("mode").GetInt32());
        foreach (var field in new[] { "path", "type", "mode", "uid", "gid", "size", "linkTarget" })
            Assert.All(entries, e => Assert.True(e.TryGetProperty(field, out _), field));

        var layers = await CliRunner.RunAsync("inspect", clip, "--layers", "--json");
        Assert.Contains(layers.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.Contains("\"type\":\"whiteout\"") && l.Contains("/etc/gone"));

        foreach (var (path, data) in _files)
        {
            var cat = await CliRunner.RunAsync("cat", clip, path, "--stats");
            Assert.True(cat.ExitCode == 0, cat.Stderr);
            Assert.Equal(data, cat.Stdout);
            Assert.Contains("compressed bytes", cat.Stderr);
        }
        // symlinks are followed inside the image
        Assert.Equal(_files["/usr/lib/big.so"], (await CliRunner.RunAsync("cat", clip, "/lib/big.so")).Stdout);
    }

    [Fact]
    public async Task Mistakes_give_one_clear_line_and_exit_code_1()
    {
        string layout = BuildLayout();
        string clip = _dir.Combine("img.clip");
        Assert.Equal(0, (await CliRunner.RunAsync("index", "--oci-layout", $"{layout}:v1", "--out", clip)).ExitCode);

        var missing = await CliRunner.RunAsync("cat", clip, "/no/such");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no such file", missing.Stderr);

        var dir = await CliRunner.RunAsync("cat", clip, "/etc");
        Assert.Equal(1, dir.ExitCode);
        Assert.Contains("not a regular file", dir.Stderr);

        var badTag = await CliRunner.RunAsync("index", "--oci-layout", $"{layout}:nope", "--out", _dir.Combine("x.clip"));
        Assert.Equal(1, badTag.ExitCode);
        Assert.Contains("no image tagged \"nope\"", badTag.Stderr);

        var bytes = File.ReadAllBytes(clip);
        bytes[bytes.Length / 2] ^= 0xff;
        File.WriteAllBytes(clip, bytes);
        var corrupt = await CliRunner.RunAsync("inspect", clip);
        Assert.Equal(1, corrupt.ExitCode);
        Assert.Contains("checksum mismatch", corrupt.Stderr);
        Assert.False(File.Exists(_dir.Combine("x.clip")));
    }

    [Fact]
    public async Task A_layout_whose_blob_is_corrupt_is_refused_without_writing_an_index()
    {
        string layout = BuildLayout();
        var blob = Directory.GetFiles(Path.Combine(layout, "blobs", "sha256")).OrderByDescending(f => new FileInfo(f).Length).First();
        var bytes = File.ReadAllBytes(blob);
        bytes[100] ^= 1;
        File.WriteAllBytes(blob, bytes);
        string clip = _dir.Combine("bad.clip");
        var r = await CliRunner.RunAsync("index", "--oci-layout", $"{layout}:v1", "--out", clip);
        Assert.Equal(1, r.ExitCode);
        Assert.Matches("digest mismatch|corrupt|CRC", r.Stderr);
        Assert.False(File.Exists(clip));
    }
}
