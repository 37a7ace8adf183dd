using System.CommandLine;
using Clip.Content;
using Clip.Oci;
using Spectre.Console;

namespace Clip.Cli;

/// <summary><c>clipctl cache</c>: what the decompressed-span cache and local layer blobs hold, and trimming them.</summary>
internal static class CacheCommand
{
    public static Command Create(CliConsole console)
    {
        var cmd = new Command("cache", "Inspect and trim clip's local cache (decompressed spans, whole layer blobs)");
        cmd.Subcommands.Add(Du(console));
        cmd.Subcommands.Add(Prune(console));
        cmd.Subcommands.Add(Clear(console));
        return cmd;
    }

    private static (RegistryOptions Registry, Option<string?> Root) RootOption()
    {
        var registry = new RegistryOptions();
        return (registry, registry.Root);
    }

    private static SpanCache Open(RegistryOptions registry, ParseResult parse)
    {
        var content = registry.Content(parse);
        return new SpanCache(content.CacheDirectory, long.MaxValue);
    }

    private static string BlobDir(RegistryOptions registry, ParseResult parse) => Path.Combine(registry.Content(parse).CacheDirectory, "blobs");

    private static Command Du(CliConsole console)
    {
        var (registry, root) = RootOption();
        var cmd = new Command("du", "Bytes cached per layer") { root };
        cmd.SetAction((parse, ct) => ClipCtl.Guard(console, async () =>
        {
            var cache = Open(registry, parse);
            var blobs = LocalBlobs(BlobDir(registry, parse));
            var table = new Table().AddColumns("layer", "cached spans", "span bytes", "local blob");
            foreach (var digest in cache.Layers().Keys.Union(blobs.Keys).OrderBy(d => d.ToString(), StringComparer.Ordinal))
            {
                cache.Layers().TryGetValue(digest, out var u);
                table.AddRow(digest.ToString(), u.Files.ToString(), Format.Bytes(u.Bytes), blobs.TryGetValue(digest, out long b) ? Format.Bytes(b) : "-");
            }
            console.Ansi.Write(table);
            console.Ansi.WriteLine($"total: {Format.Bytes(cache.Size)} of decompressed spans in {cache.Count} files, {Format.Bytes(blobs.Values.Sum())} of local layer blobs, under {cache.Root}");
            await console.OutText.FlushAsync(ct);
            return 0;
        }));
        return cmd;
    }

    private static Command Prune(CliConsole console)
    {
        var (registry, root) = RootOption();
        var maxOpt = new Option<long>("--max-size") { Description = "Keep at most this many MiB of decompressed spans (least recently used go first)", Required = true, HelpName = "MiB" };
        var cmd = new Command("prune", "Evict least recently used spans down to a size") { root, maxOpt };
        cmd.SetAction((parse, ct) => ClipCtl.Guard(console, async () =>
        {
            long max = parse.GetValue(maxOpt);
            if (max < 0) throw new ArgumentException("--max-size must be ≥ 0");
            var cache = Open(registry, parse);
            long freed = cache.Trim(max << 20);
            await console.Error.WriteLineAsync($"freed {Format.Bytes(freed)}; {Format.Bytes(cache.Size)} remain in {cache.Root}");
            return 0;
        }));
        return cmd;
    }

    private static Command Clear(CliConsole console)
    {
        var (registry, root) = RootOption();
        var layerOpt = new Option<string?>("--layer") { Description = "Only this layer (digest)", HelpName = "DIGEST" };
        var blobsOpt = new Option<bool>("--blobs") { Description = "Also delete local copies of whole layer blobs" };
        var cmd = new Command("clear", "Delete cached spans (a running daemon refetches what it needs)") { root, layerOpt, blobsOpt };
        cmd.SetAction((parse, ct) => ClipCtl.Guard(console, async () =>
        {
            var cache = Open(registry, parse);
            long before = cache.Size;
            Digest? only = parse.GetValue(layerOpt) is { } l ? Digest.Parse(l) : null;
            if (only is { } d) cache.RemoveLayer(d);
            else cache.Clear();
            long blobBytes = 0;
            if (parse.GetValue(blobsOpt))
            {
                foreach (var (digest, bytes) in LocalBlobs(BlobDir(registry, parse)))
                {
                    if (only is { } o && o != digest) continue;
                    File.Delete(Path.Combine(BlobDir(registry, parse), digest.Algorithm, digest.Hex));
                    blobBytes += bytes;
                }
            }
            await console.Error.WriteLineAsync($"deleted {Format.Bytes(before - cache.Size)} of spans and {Format.Bytes(blobBytes)} of layer blobs");
            return 0;
        }));
        return cmd;
    }

    private static Dictionary<Digest, long> LocalBlobs(string dir)
    {
        var result = new Dictionary<Digest, long>();
        if (!Directory.Exists(dir)) return result;
        foreach (var algDir in Directory.EnumerateDirectories(dir))
            foreach (var f in Directory.EnumerateFiles(algDir))
                if (Digest.TryParse($"{Path.GetFileName(algDir)}:{Path.GetFileName(f)}", out var d)) result[d] = new FileInfo(f).Length;
        return result;
    }
}
