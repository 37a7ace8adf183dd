using System.CommandLine;
using System.Text;
using System.Text.Json;
using Clip.Index;
using Clip.Index.Format;
using Spectre.Console;

namespace Clip.Cli;

/// <summary><c>clipctl inspect</c>: what an index holds — summary, merged view, per-layer entries.</summary>
internal static class InspectCommand
{
    public static Command Create(CliConsole console)
    {
        var fileArg = new Argument<string>("FILE") { Description = "A .clip index" };
        var jsonOpt = new Option<bool>("--json") { Description = "Print entries as JSON, one object per line (the merged view, or per layer with --layers)" };
        var layersOpt = new Option<bool>("--layers") { Description = "List each layer's own entries (whiteouts and opaque markers included)" };
        var cmd = new Command("inspect", "Show what an index holds") { fileArg, jsonOpt, layersOpt };
        cmd.SetAction((parse, ct) => ClipCtl.Guard(console, async () =>
        {
            var file = ClipIndexFile.Load(parse.GetRequiredValue(fileArg));
            bool json = parse.GetValue(jsonOpt), layers = parse.GetValue(layersOpt);
            var ordered = file.ImageLayers();
            if (json && layers) WriteLayerEntriesJson(console, ordered);
            else if (json) WriteMergedJson(console, MergedTree.Build(ordered));
            else if (layers) WriteLayerListing(console, ordered);
            else WriteSummary(console, file, ordered);
            await console.OutText.FlushAsync(ct);
            return 0;
        }));
        return cmd;
    }

    private static void WriteSummary(CliConsole console, ClipIndexFile file, IReadOnlyList<LayerIndex> layers)
    {
        var ansi = console.Ansi;
        if (file.Image is { } img)
        {
            var grid = new Grid().AddColumn().AddColumn();
            grid.AddRow("Image", Markup.Escape(img.Reference));
            grid.AddRow("Manifest", img.ManifestDigest.ToString());
            grid.AddRow("Platform", Markup.Escape(img.Platform));
            grid.AddRow("Config", img.ConfigDigest.ToString());
            ansi.Write(grid);
        }
        var table = new Table().AddColumns("#", "layer digest", "compression", "compressed", "uncompressed", "entries", "spans", "chunks", "index");
        long totalC = 0, totalU = 0, totalIndex = 0;
        int totalEntries = 0, totalSpans = 0;
        for (int i = 0; i < layers.Count; i++)
        {
            var l = layers[i];
            table.AddRow((i + 1).ToString(), l.Digest.ToString(), l.Compression.ToString().ToLowerInvariant(), Format.Bytes(l.CompressedSize),
                Format.Bytes(l.UncompressedSize), l.EntryCount.ToString(), l.Checkpoints.Count.ToString(), l.ChunkCount.ToString(), Format.Bytes(l.SectionSize));
            totalC += l.CompressedSize;
            totalU += l.UncompressedSize;
            totalIndex += l.SectionSize;
            totalEntries += l.EntryCount;
            totalSpans += l.Checkpoints.Count;
        }
        ansi.Write(table);
        ansi.WriteLine($"layers {layers.Count}, entries {totalEntries}, spans {totalSpans}, compressed {Format.Bytes(totalC)}, uncompressed {Format.Bytes(totalU)}, " +
                       $"index file {Format.Bytes(file.Size)} ({Format.Percent(totalU == 0 ? 0 : (double)file.Size / totalU)} of uncompressed)");
    }

    private static void WriteMergedJson(CliConsole console, MergedTree tree)
    {
        using var w = new Utf8JsonWriter(console.OutText.BaseStreamOrThrow(), new JsonWriterOptions { SkipValidation = true });
        foreach (var node in tree.Walk())
        {
            WriteEntry(w, "/" + node.Path, node.Entry, node.LinkCount, node.Layer);
            w.Flush();
            console.OutText.BaseStreamOrThrow().WriteByte((byte)'\n');
            w.Reset();
        }
    }

    private static void WriteLayerEntriesJson(CliConsole console, IReadOnlyList<LayerIndex> layers)
    {
        var stream = console.OutText.BaseStreamOrThrow();
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { SkipValidation = true });
        for (int i = 0; i < layers.Count; i++)
        {
            foreach (var e in layers[i].Entries())
            {
                WriteEntry(w, "/" + e.Path, e, e.Target.LinkCount, i);
                w.Flush();
                stream.WriteByte((byte)'\n');
                w.Reset();
            }
        }
    }

    /// <summary>One entry as JSON. Type names follow the eStargz TOC (reg, dir, symlink, hardlink, char, block, fifo) plus whiteout.</summary>
    internal static void WriteEntry(Utf8JsonWriter w, string path, Entry entry, uint linkCount, int layer)
    {
        var t = entry.Target;
        w.WriteStartObject();
        w.WriteString("path", path);
        w.WriteString("type", TypeName(entry.Type));
        w.WriteNumber("mode", t.Mode);
        w.WriteNumber("uid", t.Uid);
        w.WriteNumber("gid", t.Gid);
        w.WriteNumber("size", t.Type == EntryType.Regular ? t.Size : 0);
        string? linkTarget = entry.Type switch
        {
            EntryType.Symlink => Encoding.UTF8.GetString(entry.SymlinkTarget),
            EntryType.Hardlink => "/" + t.Path,
            _ => null,
        };
        if (linkTarget is null) w.WriteNull("linkTarget");
        else w.WriteString("linkTarget", linkTarget);
        w.WriteNumber("nlink", linkCount);
        w.WriteString("mtime", DateTimeOffset.FromUnixTimeSeconds(t.MTimeSeconds).AddTicks(t.MTimeNanoseconds / 100).ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFZ"));
        if (t.UserName.Length > 0) w.WriteString("uname", t.UserName);
        if (t.GroupName.Length > 0) w.WriteString("gname", t.GroupName);
        if (t.Type is EntryType.CharDevice or EntryType.BlockDevice)
        {
            w.WriteNumber("devMajor", t.DevMajor);
            w.WriteNumber("devMinor", t.DevMinor);
        }
        if (entry.IsOpaque) w.WriteBoolean("opaque", true);
        var xattrs = t.Xattrs().ToList();
        if (xattrs.Count > 0)
        {
            w.WriteStartObject("xattrs");
            foreach (var (k, v) in xattrs) w.WriteBase64String(k, v);
            w.WriteEndObject();
        }
        w.WriteNumber("layer", layer);
        w.WriteEndObject();
    }

    internal static string TypeName(EntryType type) => type switch
    {
        EntryType.Regular => "reg",
        EntryType.Directory => "dir",
        EntryType.Symlink => "symlink",
        EntryType.Hardlink => "hardlink",
        EntryType.CharDevice => "char",
        EntryType.BlockDevice => "block",
        EntryType.Fifo => "fifo",
        EntryType.Whiteout => "whiteout",
        _ => "unknown",
    };

    private static void WriteLayerListing(CliConsole console, IReadOnlyList<LayerIndex> layers)
    {
        var o = console.OutText;
        for (int i = 0; i < layers.Count; i++)
        {
            var l = layers[i];
            o.WriteLine($"layer {i + 1}/{layers.Count} {l.Digest} ({l.EntryCount} entries)");
            foreach (var e in l.Entries())
            {
                if (e.IsRoot) continue;
                var t = e.Target;
                char kind = e.Type switch
                {
                    EntryType.Directory => 'd', EntryType.Symlink => 'l', EntryType.CharDevice => 'c', EntryType.BlockDevice => 'b',
                    EntryType.Fifo => 'p', EntryType.Whiteout => 'w', EntryType.Hardlink => 'h', _ => '-',
                };
                string suffix = e.Type switch
                {
                    EntryType.Symlink => " -> " + Encoding.UTF8.GetString(e.SymlinkTarget),
                    EntryType.Hardlink => " link to " + t.Path,
                    EntryType.Directory when e.IsOpaque => " (opaque)",
                    _ => "",
                };
                string size = t.Type is EntryType.CharDevice or EntryType.BlockDevice ? $"{t.DevMajor},{t.DevMinor}" : (t.Type == EntryType.Regular ? t.Size : 0).ToString();
                o.WriteLine($"{Format.ModeString(kind, t.Mode)} {t.Uid}/{t.Gid} {size,12} {DateTimeOffset.FromUnixTimeSeconds(t.MTimeSeconds):yyyy-MM-dd HH:mm} {e.Path}{suffix}");
            }
        }
    }

    private static Stream BaseStreamOrThrow(this TextWriter w)
    {
        w.Flush();
        return w is StreamWriter sw ? sw.BaseStream : throw new InvalidOperationException("stdout is not a stream");
    }
}
