using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Clip.Content;
using Clip.Gzip;
using Clip.Index.Build;
using Clip.Registry;
using Clip.Index;
using Clip.Index.Format;
using Clip.Oci;

namespace Clip.Cli;

/// <summary><c>clipctl cat</c>: one file of the merged view to stdout, reading only the compressed bytes it needs.</summary>
internal static class CatCommand
{
    public static Command Create(CliConsole console)
    {
        var argsArg = new Argument<string[]>("ARGS") { Description = "FILE PATH (a .clip index and a path in the image), or PATH with --image", Arity = new ArgumentArity(1, 2) };
        var layoutOpt = new Option<string?>("--oci-layout") { Description = "OCI layout directory holding the blobs (default: the one the index was made from)", HelpName = "DIR" };
        var imageOpt = new Option<string?>("--image") { Description = "Read lazily from this image in its registry (index from the local store, the registry, or made now)", HelpName = "REF" };
        var indexOpt = new Option<string?>("--index") { Description = "With --image: use this .clip index file", HelpName = "FILE" };
        var statsOpt = new Option<bool>("--stats") { Description = "Print on stderr how many compressed bytes were fetched" };
        var registry = new RegistryOptions();
        var cmd = new Command("cat", "Write one file of the image to stdout, reading only the compressed bytes it needs") { argsArg, layoutOpt, imageOpt, indexOpt, statsOpt };
        registry.AddTo(cmd);
        cmd.SetAction((parse, ct) => ClipCtl.Guard(console, async () =>
        {
            var args = parse.GetRequiredValue(argsArg);
            bool stats = parse.GetValue(statsOpt);
            if (parse.GetValue(imageOpt) is { } imageRef)
            {
                if (args.Length != 1) throw new ArgumentException("with --image give only the PATH in the image");
                return await CatFromRegistryAsync(console, registry, parse, imageRef, parse.GetValue(indexOpt), args[0], stats, ct);
            }
            if (args.Length != 2) throw new ArgumentException("give FILE PATH (an index and a path in the image), or --image REF PATH");
            var file = ClipIndexFile.Load(args[0]);
            var layers = file.ImageLayers();
            string path = args[1];
            var node = Resolve(MergedTree.Build(layers), path);
            var entry = RegularFile(node, path);
            var layer = layers[node.Layer];

            string dir = parse.GetValue(layoutOpt) ?? LayoutFromReference(file.Image)
                ?? throw new ArgumentException("this index was not made from an OCI layout: say where the blobs are with --oci-layout DIR, or read from the registry with --image REF");
            var layout = OciLayout.Open(dir);
            using var source = new FileRangeSource(layout.BlobPath(layer.Digest));
            if (source.Length != layer.CompressedSize)
                throw new InvalidDataException($"blob {layer.Digest} in {dir} is {source.Length} bytes, the index says {layer.CompressedSize}");
            var sw = Stopwatch.StartNew();
            await CopyFileAsync(layer, entry, source, console.Out, ct);
            await console.Out.FlushAsync(ct);
            if (stats)
            {
                int spans = layer.Compression == LayerCompression.Gzip
                    ? GzipRandomReader.FindSpan(layer.Checkpoints, entry.DataOffset + Math.Max(0, entry.Size - 1)).Value - GzipRandomReader.FindSpan(layer.Checkpoints, entry.DataOffset).Value + 1
                    : 0;
                await console.Error.WriteLineAsync(
                    $"{path}: {entry.Size} bytes; read {source.BytesRead} compressed bytes in {source.Reads} range reads " +
                    $"({Format.Percent(layer.CompressedSize == 0 ? 0 : (double)source.BytesRead / layer.CompressedSize)} of layer {Format.ShortDigest(layer.Digest)}, " +
                    $"{Format.Bytes(layer.CompressedSize)}; file spans {spans} of {layer.Checkpoints.Count} spans) in {sw.Elapsed.TotalMilliseconds:0.0} ms");
            }
            return 0;
        }));
        return cmd;
    }

    private static async Task<int> CatFromRegistryAsync(CliConsole console, RegistryOptions registry, ParseResult parse, string imageRef, string? indexFile,
        string path, bool stats, CancellationToken ct)
    {
        using var client = registry.Client(parse);
        var reference = RegistryOptions.ParseReference(imageRef);
        var content = registry.Content(parse);
        var sw = Stopwatch.StartNew();
        var (layers, repository, origin) = await registry.IndexedImageAsync(client, parse, reference, indexFile, ct);
        var indexTime = sw.Elapsed;
        var node = Resolve(MergedTree.Build(layers), path);
        var entry = RegularFile(node, path);
        var layer = layers[node.Layer];
        var statistics = new ReadStatistics();
        var cache = new SpanCache(content.CacheDirectory, content.CacheMaxBytes);
        using (var reader = RemoteLayers.OpenReader(client, repository, layer, cache, content, stats: statistics))
        {
            var buf = new byte[1 << 20];
            for (long off = 0; off < entry.Size;)
            {
                int n = await reader.ReadAsync(entry, off, buf, ct);
                if (n == 0) throw new IOException($"{path}: short read at {off} of {entry.Size}");
                await console.Out.WriteAsync(buf.AsMemory(0, n), ct);
                off += n;
            }
        }
        await console.Out.FlushAsync(ct);
        if (stats)
        {
            await console.Error.WriteLineAsync(
                $"{path}: {entry.Size} bytes; fetched {statistics.FetchedBytes} compressed bytes in {statistics.Fetches} range requests " +
                $"({Format.Percent(layer.CompressedSize == 0 ? 0 : (double)statistics.FetchedBytes / layer.CompressedSize)} of layer {Format.ShortDigest(layer.Digest)}, {Format.Bytes(layer.CompressedSize)}; " +
                $"image {Format.Bytes(layers.Sum(l => l.CompressedSize))}); cache hits {statistics.CacheHits}, misses {statistics.CacheMisses}; " +
                $"index from {origin} in {indexTime.TotalMilliseconds:0} ms; total {sw.Elapsed.TotalMilliseconds:0} ms");
        }
        return 0;
    }

    private static Entry RegularFile(MergedNode node, string path)
    {
        var entry = node.Entry.Target;
        if (entry.Type != EntryType.Regular)
            throw new IOException($"{path} is a {InspectCommand.TypeName(entry.Type)}, not a regular file");
        return entry;
    }

    /// <summary>Streams a regular file's content from its layer blob.</summary>
    internal static async Task CopyFileAsync(LayerIndex layer, Entry entry, IRangeSource source, Stream destination, CancellationToken ct)
    {
        if (entry.Size == 0) return;
        if (layer.Compression == LayerCompression.None)
        {
            var buf = new byte[(int)Math.Min(entry.Size, 1 << 20)];
            for (long done = 0; done < entry.Size;)
            {
                int n = (int)Math.Min(buf.Length, entry.Size - done);
                await source.ReadAsync(entry.DataOffset.Value + done, buf.AsMemory(0, n), ct);
                await destination.WriteAsync(buf.AsMemory(0, n), ct);
                done += n;
            }
            return;
        }
        using var reader = new GzipRandomReader(layer.Checkpoints, layer.UncompressedSize, source);
        await reader.CopyRangeAsync(entry.DataOffset, entry.Size, (piece, c) => destination.WriteAsync(piece, c), entry.CompleteBy, ct);
    }

    /// <summary>The directory an index made from an OCI layout records in its reference ("oci:DIR:REF").</summary>
    internal static string? LayoutFromReference(ImageInfo? image)
    {
        if (image is null || !image.Reference.StartsWith("oci:", StringComparison.Ordinal)) return null;
        string rest = image.Reference[4..];
        int colon = rest.LastIndexOf(':');
        return colon > 0 ? rest[..colon] : rest;
    }

    /// <summary>Finds a path in the merged view, following symlinks as if the image were the root directory.</summary>
    internal static MergedNode Resolve(MergedTree tree, string path)
    {
        var parts = new List<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries));
        var stack = new List<MergedNode> { tree.Root };
        int hops = 0;
        for (int i = 0; i < parts.Count; i++)
        {
            string part = parts[i];
            if (part == ".") continue;
            if (part == "..")
            {
                if (stack.Count > 1) stack.RemoveAt(stack.Count - 1);
                continue;
            }
            var child = stack[^1].Child(Index.Tar.TarPath.Latin1(Encoding.UTF8.GetBytes(part)))
                ?? throw new FileNotFoundException($"{path}: no such file in the image");
            if (child.Entry.Type == EntryType.Symlink)
            {
                if (++hops > 40) throw new IOException($"{path}: too many levels of symbolic links");
                string target = Encoding.UTF8.GetString(child.Entry.SymlinkTarget);
                if (target.StartsWith('/')) stack.RemoveRange(1, stack.Count - 1);
                parts.InsertRange(i + 1, target.Split('/', StringSplitOptions.RemoveEmptyEntries));
                continue;
            }
            if (i < parts.Count - 1 && !child.IsDirectory) throw new IOException($"{path}: {child.Path} is not a directory");
            stack.Add(child);
        }
        return stack[^1];
    }
}
