using System.CommandLine;
using System.Diagnostics;
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
        var outOpt = new Option<string>("--out", "-o") { Description = "Where to write the .clip index", Required = true, HelpName = "FILE" };
        var spanOpt = new Option<double>("--span-size") { Description = "Uncompressed MiB between gzip checkpoints", DefaultValueFactory = _ => LayerIndexOptions.DefaultSpanSize / (1024.0 * 1024) };
        var platformOpt = new Option<string?>("--platform") { Description = "Platform to pick from a multi-platform image (os/arch[/variant]); default: this machine's" };
        var cmd = new Command("index", "Index an image: table of contents, gzip checkpoints and chunk digests per layer")
        {
            layoutOpt, outOpt, spanOpt, platformOpt,
        };
        cmd.SetAction((parse, ct) => ClipCtl.Guard(console, async () =>
        {
            var options = SpanOptions(parse.GetValue(spanOpt));
            var platform = parse.GetValue(platformOpt) is { } p ? Platform.Parse(p) : null;
            string output = parse.GetRequiredValue(outOpt);
            if (parse.GetValue(layoutOpt) is not { } location)
                throw new ArgumentException("say what to index: --oci-layout DIR[:REF]");
            var (dir, reference) = OciLayout.ParseLocation(location);
            var layout = OciLayout.Open(dir);
            var image = layout.Resolve(reference, platform);
            image = image with { Reference = $"oci:{Path.GetFullPath(dir)}:{reference ?? image.Reference}" };
            var sw = Stopwatch.StartNew();
            var (info, layers) = await RunWithProgressAsync(console, image, (d, _) =>
                Task.FromResult<Stream>(new FileStream(layout.BlobPath(Digest.Parse(d.Digest)), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan)),
                options, ct);
            ClipIndexFile.Write(output, info, layers.Select(l => l.Section));
            await ReportAsync(console, output, layers, sw.Elapsed);
            return 0;
        }));
        return cmd;
    }

    internal static LayerIndexOptions SpanOptions(double spanMiB)
    {
        if (spanMiB is < 0.0625 or > 1024 || double.IsNaN(spanMiB)) throw new ArgumentException($"--span-size {spanMiB} MiB is out of range (1/16 to 1024)");
        return new LayerIndexOptions { SpanSize = (long)(spanMiB * 1024 * 1024) };
    }

    /// <summary>Indexes with a per-layer progress display on stderr (plain lines when not a terminal).</summary>
    internal static async Task<(ImageInfo Image, IReadOnlyList<LayerIndex> Layers)> RunWithProgressAsync(CliConsole console, ResolvedImage image,
        ImageIndexer.BlobOpener open, LayerIndexOptions options, CancellationToken ct, Func<Digest, LayerIndex?>? reuse = null)
    {
        if (!console.Interactive)
        {
            var done = new HashSet<int>();
            var progress = new InlineProgress<IndexProgress>(p =>
            {
                if (p.Done == p.Total && done.Add(p.Layer))
                    console.Error.WriteLine($"indexed layer {p.Layer + 1}/{p.LayerCount} {p.Digest} ({Format.Bytes(p.Total)})");
            });
            return await ImageIndexer.IndexAsync(image, open, options, progress, ct, reuse);
        }
        (ImageInfo, IReadOnlyList<LayerIndex>) result = default;
        await console.AnsiError.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn())
            .StartAsync(async ctx =>
            {
                var tasks = image.Manifest.Layers
                    .Select((l, i) => ctx.AddTask($"layer {i + 1}/{image.Manifest.Layers.Count} {Format.ShortDigest(Digest.Parse(l.Digest))}", maxValue: Math.Max(1, l.Size)))
                    .ToArray();
                var progress = new InlineProgress<IndexProgress>(p => tasks[p.Layer].Value = p.Done);
                result = await ImageIndexer.IndexAsync(image, open, options, progress, ct, reuse);
            });
        return result;
    }

    internal static async Task ReportAsync(CliConsole console, string output, IReadOnlyList<LayerIndex> layers, TimeSpan elapsed)
    {
        long uncompressed = layers.Sum(l => l.UncompressedSize);
        long size = new FileInfo(output).Length;
        await console.Error.WriteLineAsync(
            $"wrote {output}: {layers.Count} layers, {layers.Sum(l => l.EntryCount)} entries, {layers.Sum(l => l.Checkpoints.Count)} checkpoints, " +
            $"index {Format.Bytes(size)} = {Format.Percent(uncompressed == 0 ? 0 : (double)size / uncompressed)} of {Format.Bytes(uncompressed)} uncompressed, in {Format.Seconds(elapsed)}");
        foreach (var l in layers.Where(l => l.DroppedEntries > 0))
            await console.Error.WriteLineAsync($"warning: layer {l.Digest}: {l.DroppedEntries} hardlinks to names outside the layer were skipped");
    }
}
