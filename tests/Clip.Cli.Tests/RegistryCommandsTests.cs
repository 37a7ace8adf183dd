using Clip.Testing;

namespace Clip.Cli.Tests;

public sealed class RegistryCommandsTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private RegistryServer _registry = null!;
    private readonly byte[] _big = new byte[2_000_000];
    private string Ref => $"{_registry.Address}/cli/app:v1";

    public async Task InitializeAsync()
    {
        _registry = await RegistryServer.StartAsync();
        new Random(4).NextBytes(_big);
        var layout = new OciLayoutBuilder(_dir.Combine("layout"));
        layout.AddImage("v1", [
            OciLayoutBuilder.Layer.Gzip(new LayerBuilder().File("usr/bin/big", _big).File("etc/hostname", "clip\n")),
            OciLayoutBuilder.Layer.Gzip(new LayerBuilder().File("app/run.sh", "#!/bin/sh\necho hi\n", mode: 0b111_101_101)),
        ]);
        await _registry.PushOciLayoutAsync(_dir.Combine("layout"), "v1", "cli/app", "v1");
    }

    public async Task DisposeAsync()
    {
        await _registry.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task Index_push_fetch_and_lazy_cat_from_the_registry()
    {
        string node1 = _dir.Combine("node1"), node2 = _dir.Combine("node2"), file = _dir.Combine("img.clip");
        var index = await CliRunner.RunAsync("index", "--image", Ref, "--out", file, "--push", "--root", node1);
        Assert.True(index.ExitCode == 0, index.Stderr);
        Assert.Contains("pushed index", index.Stderr);
        Assert.True(File.Exists(file));

        var fetch = await CliRunner.RunAsync("index", "fetch", Ref, "--root", node2);
        Assert.True(fetch.ExitCode == 0, fetch.Stderr);
        Assert.Contains("2 layers", fetch.Stderr);

        var cat = await CliRunner.RunAsync("cat", "--image", Ref, "/usr/bin/big", "--stats", "--root", node2);
        Assert.True(cat.ExitCode == 0, cat.Stderr);
        Assert.Equal(_big, cat.Stdout);
        Assert.Contains("index from local index store", cat.Stderr);
        Assert.Matches(@"fetched \d+ compressed bytes in [1-9]\d* range requests", cat.Stderr);

        var again = await CliRunner.RunAsync("cat", "--image", Ref, "/etc/hostname", "--stats", "--root", node2);
        Assert.Equal("clip\n", again.Text);

        var fromFile = await CliRunner.RunAsync("cat", "--image", Ref, "--index", file, "/app/run.sh", "--root", _dir.Combine("node3"));
        Assert.True(fromFile.ExitCode == 0, fromFile.Stderr);
        Assert.Equal("#!/bin/sh\necho hi\n", fromFile.Text);
    }

    [Fact]
    public async Task Cache_du_prune_and_clear_manage_what_lazy_reads_left()
    {
        string root = _dir.Combine("cachenode");
        Assert.Equal(0, (await CliRunner.RunAsync("cat", "--image", Ref, "/usr/bin/big", "--root", root)).ExitCode);
        var du = await CliRunner.RunAsync("cache", "du", "--root", root);
        Assert.True(du.ExitCode == 0, du.Stderr);
        Assert.Contains("sha256:", du.Text);
        Assert.DoesNotContain("total: 0 B", du.Text);

        var prune = await CliRunner.RunAsync("cache", "prune", "--max-size", "0", "--root", root);
        Assert.True(prune.ExitCode == 0, prune.Stderr);
        Assert.Contains("0 B remain", prune.Stderr);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(root, "cache", "sha256"), "*", SearchOption.AllDirectories));

        // the next read refills it, and clear empties it again (blobs too)
        Assert.Equal(_big, (await CliRunner.RunAsync("cat", "--image", Ref, "/usr/bin/big", "--root", root)).Stdout);
        var clear = await CliRunner.RunAsync("cache", "clear", "--blobs", "--root", root);
        Assert.True(clear.ExitCode == 0, clear.Stderr);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(root, "cache"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Cat_of_an_unindexed_image_indexes_it_first()
    {
        var cat = await CliRunner.RunAsync("cat", "--image", Ref, "/etc/hostname", "--stats", "--root", _dir.Combine("fresh"));
        Assert.True(cat.ExitCode == 0, cat.Stderr);
        Assert.Equal("clip\n", cat.Text);
        Assert.Contains("indexed now", cat.Stderr);
    }

    [Fact]
    public async Task Fetching_an_index_nobody_pushed_says_how_to_make_one()
    {
        var fetch = await CliRunner.RunAsync("index", "fetch", Ref, "--root", _dir.Combine("x"));
        Assert.Equal(1, fetch.ExitCode);
        Assert.Contains("clipctl index --image", fetch.Stderr);
        var bad = await CliRunner.RunAsync("index", "--image", "UPPER/Case::bad", "--out", _dir.Combine("y.clip"));
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("invalid image reference", bad.Stderr);
        var missing = await CliRunner.RunAsync("cat", "--image", $"{_registry.Address}/cli/none:v1", "/x", "--root", _dir.Combine("z"));
        Assert.Equal(1, missing.ExitCode);
    }
}
