using System.Formats.Tar;
using Clip.Gzip;
using Clip.Index.Build;
using Clip.Oci;
using Clip.Testing;

namespace Clip.Index.Tests;

internal static class IndexHelpers
{
    public static async Task<LayerIndex> IndexAsync(byte[] blob, string mediaType = MediaTypes.OciLayerGzip, LayerIndexOptions? options = null)
    {
        var digest = Digest.Sha256(blob);
        return await LayerIndexer.IndexAsync(new MemoryStream(blob), digest, mediaType, blob.Length, options ?? new LayerIndexOptions { SpanSize = 64 * 1024 });
    }

    /// <summary>Reads a regular file's content through the index with random access (the way clip serves it).</summary>
    public static async Task<byte[]> ReadFileAsync(LayerIndex layer, Entry entry, IRangeSource blob)
    {
        var t = entry.Target;
        var buf = new byte[t.Size];
        if (t.Size == 0) return buf;
        if (layer.Compression == LayerCompression.None)
        {
            await blob.ReadAsync(t.DataOffset.Value, buf, default);
            return buf;
        }
        using var reader = new GzipRandomReader(layer.Checkpoints, layer.UncompressedSize, blob);
        int n = await reader.ReadAsync(t.DataOffset, buf, t.CompleteBy, default);
        Assert.Equal(buf.Length, n);
        return buf;
    }

    /// <summary>Every tar entry as System.Formats.Tar sees it: the independent ground truth.</summary>
    public static List<(TarEntry Entry, byte[] Data)> ReadTar(byte[] tar)
    {
        var list = new List<(TarEntry, byte[])>();
        using var r = new TarReader(new MemoryStream(tar));
        while (r.GetNextEntry(copyData: true) is { } e)
        {
            var data = e.DataStream is null ? [] : ((MemoryStream)e.DataStream).ToArray();
            list.Add((e, data));
        }
        return list;
    }

    public static string Normalize(string name) => string.Join('/', name.Split('/').Where(p => p is not ("" or ".")));
}
