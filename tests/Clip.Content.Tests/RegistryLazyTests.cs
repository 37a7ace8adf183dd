using Clip.Index;
using Clip.Index.Build;
using Clip.Oci;
using Clip.Registry;
using Clip.Testing;

namespace Clip.Content.Tests;

/// <summary>Lazy reads against a real docker-registry (CNCF distribution 2.8) on loopback, images pushed by skopeo.</summary>
public sealed class RegistryLazyTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private RegistryServer _registry = null!;
    private readonly Dictionary<string, byte[]> _files = [];
    private const string Repo = "lazy/app";

    public async Task InitializeAsync()
    {
        _registry = await RegistryServer.StartAsync();
        var rng = new Random(31);
        byte[] R(int n) { var b = new byte[n]; rng.NextBytes(b); return b; }
        var l1 = new LayerBuilder().Dir("usr/bin").Dir("etc");
        for (int i = 0; i < 150; i++)
        {
            var text = System.Text.Encoding.ASCII.GetBytes(string.Join(' ', Enumerable.Range(0, rng.Next(10, 3000)).Select(_ => rng.Next(1000).ToString())));
            _files[$"usr/lib/mod{i}.py"] = text;
            l1.File($"usr/lib/mod{i}.py", text);
        }
        _files["usr/bin/tool"] = R(2_500_000);
        l1.File("usr/bin/tool", _files["usr/bin/tool"], mode: 0b111_101_101).File("etc/remove-me", "x");
        var l2 = new LayerBuilder().Whiteout("etc/remove-me").File("app/main.py", "print(42)\n");
        _files["app/main.py"] = "print(42)\n"u8.ToArray();
        var layout = new OciLayoutBuilder(_dir.Combine("layout"));
        layout.AddImage("v1", [OciLayoutBuilder.Layer.Gzip(l1), OciLayoutBuilder.Layer.Gzip(l2)]);
        await _registry.PushOciLayoutAsync(_dir.Combine("layout"), "v1", Repo, "v1");
    }

    public async Task DisposeAsync()
    {
        await _registry.DisposeAsync();
        _dir.Dispose();
    }

    private (ImageIndexProvider Provider, ContentOptions Options) Provider(string name, RegistryClient client) =>
        (new ImageIndexProvider(client, new IndexStore(_dir.Combine(name, "indexes")), new LayerIndexOptions { SpanSize = 256 * 1024 }),
         new ContentOptions { CacheDirectory = _dir.Combine(name, "cache"), SmallLayerThreshold = 0 });

    private static async Task<byte[]> ReadAll(LayerReader reader, Entry e)
    {
        var buf = new byte[e.Target.Size];
        int n = await reader.ReadAsync(e, 0, buf, default);
        return buf[..n];
    }

    [Fact]
    public async Task Every_file_reads_back_exactly_through_range_gets()
    {
        using var client = new RegistryClient();
        var (provider, options) = Provider("a", client);
        var image = await provider.GetImageAsync(Reference.Parse($"{_registry.Address}/{Repo}:v1"));
        Assert.Equal(IndexOrigin.Indexed, image.Origin);
        var tree = MergedTree.Build(image.Layers);
        Assert.Null(tree.Find("etc/remove-me"));
        var cache = new SpanCache(options.CacheDirectory, options.CacheMaxBytes);
        var stats = new ReadStatistics();
        var readers = image.Layers.Select(l => RemoteLayers.OpenReader(client, image.Resolved.Repository, l, cache, options, stats: stats)).ToArray();
        foreach (var (path, data) in _files)
        {
            var node = tree.Find(path)!;
            Assert.Equal(data, await ReadAll(readers[node.Layer], node.Entry));
        }
        Assert.True(stats.Fetches > 0);
        Assert.True(stats.FetchedBytes <= image.Layers.Sum(l => l.CompressedSize) + 2 * 32 * 1024 * stats.Fetches);
    }

    [Fact]
    public async Task An_index_pushed_by_one_node_is_found_and_reused_by_another()
    {
        using var client = new RegistryClient();
        var reference = Reference.Parse($"{_registry.Address}/{Repo}:v1");
        var (first, _) = Provider("node1", client);
        var indexed = await first.GetImageAsync(reference);
        await RegistryIndexes.PushAsync(client, indexed.Resolved.Repository, indexed.Resolved.ManifestDescriptor, indexed.Image, indexed.Layers);

        var (second, _) = Provider("node2", client);
        var fetched = await second.GetImageAsync(reference, allowIndexing: false);
        Assert.Equal(IndexOrigin.Registry, fetched.Origin);
        Assert.Equal(indexed.Image.ChainIds, fetched.Image.ChainIds);
        for (int i = 0; i < indexed.Layers.Count; i++)
            Assert.True(indexed.Layers[i].Section.Span.SequenceEqual(fetched.Layers[i].Section.Span));
        // and the third time it is local
        Assert.Equal(IndexOrigin.Store, (await second.GetImageAsync(reference)).Origin);
        Assert.NotNull(second.Store.FindByChainId(fetched.Image.ChainIds[^1]));
    }

    [Fact]
    public async Task Without_any_index_and_indexing_disallowed_the_error_says_what_to_do()
    {
        using var client = new RegistryClient();
        var (provider, _) = Provider("c", client);
        var e = await Assert.ThrowsAsync<KeyNotFoundException>(() => provider.GetImageAsync(Reference.Parse($"{_registry.Address}/{Repo}:v1"), allowIndexing: false));
        Assert.Contains("clipctl index --image", e.Message);
    }

    [Fact]
    public async Task Faults_on_the_wire_give_correct_bytes_or_a_clear_error_never_wrong_bytes()
    {
        using var client = new RegistryClient(new RegistryClientOptions { RequestTimeout = TimeSpan.FromSeconds(5), Deadline = TimeSpan.FromSeconds(20) });
        var (provider, options) = Provider("d", client);
        var image = await provider.GetImageAsync(Reference.Parse($"{_registry.Address}/{Repo}:v1"));
        await using var proxy = new FaultProxy(_registry.Address);
        var repo = new RepositoryName(proxy.Address, Repo);
        var tree = MergedTree.Build(image.Layers);
        var node = tree.Find("usr/bin/tool")!;
        var layer = image.Layers[node.Layer];

        int n = 0;
        bool IsRange(HttpRequestData r) => r.Path.Contains("/blobs/") && r.Header("Range") is not null;
        // 5xx bursts, resets mid-body and an ignored Range header: retried, right bytes.
        proxy.Rule = r => IsRange(r) ? (Interlocked.Increment(ref n) % 4) switch
        {
            1 => Fault.Status(503),
            2 => Fault.ResetAfter(1000),
            3 => Fault.IgnoreRange(),
            _ => null,
        } : null;
        using (var reader = RemoteLayers.OpenReader(client, repo, layer, new SpanCache(_dir.Combine("d1"), 1 << 30), options))
            Assert.Equal(_files["usr/bin/tool"], await ReadAll(reader, node.Entry));

        // A corrupted body once: verification catches it, one more fetch, right bytes.
        int corrupted = 0;
        proxy.Rule = r => IsRange(r) && Interlocked.Increment(ref corrupted) == 1 ? Fault.Corrupt(777) : null;
        var stats = new ReadStatistics();
        using (var reader = RemoteLayers.OpenReader(client, repo, layer, new SpanCache(_dir.Combine("d2"), 1 << 30), options, stats: stats))
            Assert.Equal(_files["usr/bin/tool"], await ReadAll(reader, node.Entry));
        Assert.True(stats.VerificationFailures >= 1);

        // Always corrupted: an error, and nothing wrong is returned or cached.
        proxy.Rule = r => IsRange(r) ? Fault.Corrupt(777) : null;
        var cache = new SpanCache(_dir.Combine("d3"), 1 << 30);
        using (var reader = RemoteLayers.OpenReader(client, repo, layer, cache, options))
            await Assert.ThrowsAsync<ContentVerificationException>(() => ReadAll(reader, node.Entry));
        Assert.Equal(0, cache.Size);
    }

    [Fact]
    public async Task Small_layers_are_downloaded_whole_and_verified()
    {
        using var client = new RegistryClient();
        var (provider, options) = Provider("e", client);
        options = options with { SmallLayerThreshold = 100 << 20 };
        var image = await provider.GetImageAsync(Reference.Parse($"{_registry.Address}/{Repo}:v1"));
        var tree = MergedTree.Build(image.Layers);
        var node = tree.Find("usr/lib/mod7.py")!;
        var stats = new ReadStatistics();
        using var reader = RemoteLayers.OpenReader(client, image.Resolved.Repository, image.Layers[node.Layer], new SpanCache(options.CacheDirectory, 1 << 30), options, stats: stats);
        Assert.Equal(_files["usr/lib/mod7.py"], await ReadAll(reader, node.Entry));
        Assert.True(File.Exists(LayerBlobSource.BlobPath(options.CacheDirectory, image.Layers[node.Layer])));
        Assert.Equal(image.Layers[node.Layer].CompressedSize, stats.FetchedBytes);
    }
}
