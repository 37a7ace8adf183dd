using System.CommandLine;
using System.Diagnostics;
using Clip.Content;
using Clip.Index;
using Clip.Index.Build;
using Clip.Index.Format;
using Clip.Oci;
using Spectre.Console;

namespace Clip.Cli;

/// <summary><c>clipctl index</c>: build an image's .clip index in one streaming pass over each layer.</summary>
internal static class IndexCommand
{
    public static Command Create(CliConsole console)
    {
        var layoutOpt = new Option<string>("--oci-layout") { Description = "Index an image in a local OCI layout directory: DIR[:REF]", HelpName = "DIR[:REF]" };
        var imageOpt = new Option<string>("--image") { Description = "Index an image in a registry, streaming each layer once", HelpName = "REF" };
        var outOpt = new Option<string?>("--out", "-o") { Description = "Where to write the .clip index", HelpName = "FILE" };
        var pushOpt = new Option<bool>("--push") { Description = "Store the index in the image's registry as an OCI artifact referring to the image (so other nodes reuse it)" };
        var spanOpt = new Option<double>("--span-size") { Description = "Uncompressed MiB between gzip checkpoints", DefaultValueFactory = _ => LayerIndexOptions.DefaultSpanSize / (1024.0 * 1024) };
        var registry = new RegistryOptions();
        var cmd = new Command("index", "Index an image: table of contents, gzip checkpoints and chunk digests per layer")
        {
            layoutOpt, imageOpt, outOpt, pushOpt, spanOpt,
        };
        registry.AddTo(cmd);
        cmd.Subcommands.Add(CreateFetch(console));
        cmd.SetAction((parse, ct) => ClipCtl.Guard(console, async () =>
        {
            var options = SpanOptions(parse.GetValue(spanOpt));
            var platform = registry.PlatformOf(parse);
            string? output = parse.GetValue(outOpt);
            bool push = parse.GetValue(pushOpt);
            var sw = Stopwatch.StartNew();
            if (parse.GetValue(layoutOpt) is { } location)
            {
                if (parse.GetValue(imageOpt) is not null) throw new ArgumentException("give either --oci-layout or --image, not both");
                if (push) throw new ArgumentException("--push stores the index in the image's registry: use it with --image");
                if (output is null) throw new ArgumentException("say where to write the index: --out FILE");
                var (dir, tag) = OciLayout.ParseLocation(location);
                var layout = OciLayout.Open(dir);
                var image = layout.Resolve(tag, platform);
                image = image with { Reference = $"oci:{Path.GetFullPath(dir)}:{tag ?? image.Reference}" };
                var (info, layers) = await RunWithProgressAsync(console, image, (d, _) =>
                    Task.FromResult<Stream>(new FileStream(layout.BlobPath(Digest.Parse(d.Digest)), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan)),
                    options, ct);
                ClipIndexFile.Write(output, info, layers.Select(l => l.Section));
                await ReportAsync(console, output, info, layers, sw.Elapsed);
                return 0;
            }
            if (parse.GetValue(imageOpt) is not { } imageRef)
                throw new ArgumentException("say what to index: --oci-layout DIR[:REF] or --image REF");
            if (output is null && !push) throw new ArgumentException("say where the index goes: --out FILE, --push, or both");
            using var client = registry.Client(parse);
            var reference = RegistryOptions.ParseReference(imageRef);
            var store = registry.Store(parse);
            var provider = new ImageIndexProvider(client, store, options);
            var resolved = await client.ResolveImageAsync(reference, platform, ct);
            var layouted = await RunWithProgressAsync(console, resolved, provider, ct);
            store.PutImage(layouted.Image, layouted.Layers);
            if (output is not null) ClipIndexFile.Write(output, layouted.Image, layouted.Layers.Select(l => l.Section));
            if (push)
            {
                var pushed = await RegistryIndexes.PushAsync(client, resolved.Repository, resolved.ManifestDescriptor, layouted.Image, layouted.Layers, ct);
                await console.Error.WriteLineAsync($"pushed index {pushed.Digest} to {resolved.Repository} as a referrer of {resolved.ManifestDigest}");
            }
            await ReportAsync(console, output, layouted.Image, layouted.Layers, sw.Elapsed);
            return 0;
        }));
        return cmd;
    }

    /// <summary><c>clipctl index fetch REF</c>: get an index stored in the registry into the local store (and a file).</summary>
    private static Command CreateFetch(CliConsole console)
    {
        var refArg = new Argument<string>("REF") { Description = "Image reference" };
        var outOpt = new Option<string?>("--out", "-o") { Description = "Also write the index to this file", HelpName = "FILE" };
        var registry = new RegistryOptions();
        var cmd = new Command("fetch", "Fetch an image's index from its registry into the local index store") { refArg, outOpt };
        registry.AddTo(cmd);
        cmd.SetAction((parse, ct) => ClipCtl.Guard(console, async () =>
        {
            using var client = registry.Client(parse);
            var reference = RegistryOptions.ParseReference(parse.GetRequiredValue(refArg));
            var store = registry.Store(parse);
            var resolved = await client.ResolveImageAsync(reference, registry.PlatformOf(parse), ct);
            var fetched = await RegistryIndexes.FetchAsync(client, resolved.Repository, resolved.ManifestDigest, store, ct)
                ?? throw new KeyNotFoundException($"{reference} ({resolved.ManifestDigest}) has no clip index in its registry; make one with clipctl index --image {reference} --push");
            if (parse.GetValue(outOpt) is { } output) ClipIndexFile.Write(output, fetched.Image, fetched.Layers.Select(l => l.Section));
            await console.Error.WriteLineAsync($"fetched index of {reference} ({resolved.ManifestDigest}): {fetched.Layers.Count} layers, {fetched.Layers.Sum(l => l.EntryCount)} entries, into {store.Root}");
            return 0;
        }));
        return cmd;
    }

    internal static LayerIndexOptions SpanOptions(double spanMiB)
    {
        if (spanMiB is < 0.0625 or > 1024 || double.IsNaN(spanMiB)) throw new ArgumentException($"--span-size {spanMiB} MiB is out of range (1/16 to 1024)");
        return new LayerIndexOptions { SpanSize = (long)(spanMiB * 1024 * 1024) };
    }

    /// <summary>Runs an indexing job with a per-layer progress display on stderr (plain lines when not a terminal).</summary>
    private static async Task<(ImageInfo Image, IReadOnlyList<LayerIndex> Layers)> RunWithProgressAsync(CliConsole console, Manifest manifest,
        Func<IProgress<IndexProgress>, Task<(ImageInfo Image, IReadOnlyList<LayerIndex> Layers)>> run)
    {
        if (!console.Interactive)
        {
            var done = new HashSet<int>();
            var progress = new InlineProgress<IndexProgress>(p =>
            {
                if (p.Done == p.Total && done.Add(p.Layer))
                    console.Error.WriteLine($"indexed layer {p.Layer + 1}/{p.LayerCount} {p.Digest} ({Format.Bytes(p.Total)})");
            });
            return await run(progress);
        }
        (ImageInfo, IReadOnlyList<LayerIndex>) result = default;
        await console.AnsiError.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn())
            .StartAsync(async ctx =>
            {
                var tasks = manifest.Layers
                    .Select((l, i) => ctx.AddTask($"layer {i + 1}/{manifest.Layers.Count} {Format.ShortDigest(Digest.Parse(l.Digest))}", maxValue: Math.Max(1, l.Size)))
                    .ToArray();
                result = await run(new InlineProgress<IndexProgress>(p => tasks[p.Layer].Value = p.Done));
            });
        return result;
    }

    /// <summary>Indexes a registry image (layers the store already has are reused) with the same progress display.</summary>
    internal static Task<(ImageInfo Image, IReadOnlyList<LayerIndex> Layers)> RunWithProgressAsync(CliConsole console,
        Clip.Registry.ResolvedImage resolved, ImageIndexProvider provider, CancellationToken ct) =>
        RunWithProgressAsync(console, resolved.Manifest, progress => provider.IndexNowAsync(resolved, progress, ct));

    internal static Task<(ImageInfo Image, IReadOnlyList<LayerIndex> Layers)> RunWithProgressAsync(CliConsole console, ResolvedImage image,
        ImageIndexer.BlobOpener open, LayerIndexOptions options, CancellationToken ct) =>
        RunWithProgressAsync(console, image.Manifest, progress => ImageIndexer.IndexAsync(image, open, options, progress, ct));

    internal static async Task ReportAsync(CliConsole console, string? output, ImageInfo image, IReadOnlyList<LayerIndex> layers, TimeSpan elapsed)
    {
        long uncompressed = layers.Sum(l => l.UncompressedSize);
        long size = output is not null ? new FileInfo(output).Length : ClipIndexFile.Serialize(image, layers.Select(l => l.Section)).Length;
        await console.Error.WriteLineAsync(
            $"{(output is null ? "indexed" : $"wrote {output}")}: {layers.Count} layers, {layers.Sum(l => l.EntryCount)} entries, {layers.Sum(l => l.Checkpoints.Count)} checkpoints, " +
            $"index {Format.Bytes(size)} = {Format.Percent(uncompressed == 0 ? 0 : (double)size / uncompressed)} of {Format.Bytes(uncompressed)} uncompressed, in {Format.Seconds(elapsed)}");
        foreach (var l in layers.Where(l => l.DroppedEntries > 0))
            await console.Error.WriteLineAsync($"warning: layer {l.Digest}: {l.DroppedEntries} hardlinks to names outside the layer were skipped");
    }
}
