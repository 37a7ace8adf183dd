using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Clip.Oci;

namespace Clip.Index.Format;

/// <summary>
/// A .clip file: an optional image section and layer sections. Loading checks magic, version,
/// length and the sha256 trailer before anything else is read, then validates every section.
/// </summary>
public sealed class ClipIndexFile
{
    private ClipIndexFile(ImageInfo? image, IReadOnlyList<LayerIndex> layers, long size)
    {
        Image = image;
        Layers = layers;
        Size = size;
    }

    public ImageInfo? Image { get; }
    public IReadOnlyList<LayerIndex> Layers { get; }
    /// <summary>The file's length in bytes.</summary>
    public long Size { get; }

    public LayerIndex? FindLayer(Digest digest) => Layers.FirstOrDefault(l => l.Digest == digest);

    /// <summary>The image's layers in order (lowest first); throws if one is missing from the file.</summary>
    public IReadOnlyList<LayerIndex> ImageLayers()
    {
        if (Image is null) return Layers;
        return Image.Layers.Select(l => FindLayer(l.Digest) ?? throw new IndexFormatException($"index: image layer {l.Digest} has no layer section")).ToList();
    }

    public static ClipIndexFile Load(string path)
    {
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new FileNotFoundException($"index file {path} does not exist", path); }
        try { return Parse(data); }
        catch (IndexFormatException e) { throw new IndexFormatException($"{path}: {e.Message}"); }
    }

    public static ClipIndexFile Parse(byte[] data)
    {
        var s = data.AsSpan();
        if (s.Length < ClipFormat.HeaderSize + ClipFormat.TrailerSize || !s[..8].SequenceEqual(ClipFormat.Magic))
            throw new IndexFormatException("index: not a clip index (bad magic)");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(s[ClipFormat.HdrVersion..]);
        if (version != ClipFormat.Version)
            throw new IndexFormatException($"index: format version {version} is not supported (this build reads version {ClipFormat.Version}); re-index the image with this clipctl");
        if (BinaryPrimitives.ReadUInt16LittleEndian(s[ClipFormat.HdrHeaderSize..]) != ClipFormat.HeaderSize)
            throw new IndexFormatException("index: unexpected header size");
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(s[ClipFormat.HdrFileLength..]);
        if (length != (ulong)data.Length)
            throw new IndexFormatException($"index: truncated or padded file: header says {length} bytes, file has {data.Length}");
        var stored = s[^ClipFormat.TrailerSize..];
        Span<byte> actual = stackalloc byte[32];
        SHA256.HashData(s[..^ClipFormat.TrailerSize], actual);
        if (!actual.SequenceEqual(stored)) throw new IndexFormatException("index: checksum mismatch: the file is corrupt");

        uint count = BinaryPrimitives.ReadUInt32LittleEndian(s[ClipFormat.HdrSectionCount..]);
        if (count > ClipFormat.MaxSections || ClipFormat.HeaderSize + (long)count * ClipFormat.SectionEntrySize > data.Length - ClipFormat.TrailerSize)
            throw new IndexFormatException("index: bad section count");
        ImageInfo? image = null;
        var layers = new List<LayerIndex>();
        long bodyEnd = data.Length - ClipFormat.TrailerSize;
        for (int i = 0; i < count; i++)
        {
            var e = s.Slice(ClipFormat.HeaderSize + i * ClipFormat.SectionEntrySize, ClipFormat.SectionEntrySize);
            uint kind = BinaryPrimitives.ReadUInt32LittleEndian(e[ClipFormat.SecKind..]);
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(e[ClipFormat.SecOffset..]);
            ulong len = BinaryPrimitives.ReadUInt64LittleEndian(e[ClipFormat.SecLength..]);
            if (offset < ClipFormat.HeaderSize || offset + len > (ulong)bodyEnd || offset % 8 != 0)
                throw new IndexFormatException($"index: section {i} lies outside the file");
            var section = new ReadOnlyMemory<byte>(data, (int)offset, (int)len);
            switch (kind)
            {
                case ClipFormat.SectionImage:
                    if (image is not null) throw new IndexFormatException("index: more than one image section");
                    image = ImageSection.Read(section.Span);
                    break;
                case ClipFormat.SectionLayer:
                    layers.Add(new LayerIndex(section));
                    break;
                default:
                    throw new IndexFormatException($"index: unknown section kind {kind}");
            }
        }
        var file = new ClipIndexFile(image, layers, data.Length);
        if (image is not null)
        {
            // An image file may carry its layers or only refer to them (the index store keeps layers in files of their own).
            foreach (var l in image.Layers)
            {
                if (file.FindLayer(l.Digest) is { } layer && layer.DiffId != l.DiffId)
                    throw new IndexFormatException($"index: layer {l.Digest} unpacks to {layer.DiffId}, but the image config says {l.DiffId}");
            }
        }
        return file;
    }

    /// <summary>Serialises an index file.</summary>
    public static byte[] Serialize(ImageInfo? image, IEnumerable<ReadOnlyMemory<byte>> layerSections)
    {
        var sections = new List<(uint kind, ReadOnlyMemory<byte> bytes)>();
        if (image is not null) sections.Add((ClipFormat.SectionImage, ImageSection.Write(image)));
        var seen = new HashSet<string>();
        foreach (var l in layerSections)
        {
            // A layer shared by two images of one file is stored once.
            if (seen.Add(Convert.ToHexString(SHA256.HashData(l.Span)))) sections.Add((ClipFormat.SectionLayer, l));
        }
        long pos = ClipFormat.HeaderSize + (long)sections.Count * ClipFormat.SectionEntrySize;
        var offsets = new long[sections.Count];
        for (int i = 0; i < sections.Count; i++)
        {
            pos = (pos + 7) & ~7L;
            offsets[i] = pos;
            pos += sections[i].bytes.Length;
        }
        pos = (pos + 7) & ~7L;
        long total = pos + ClipFormat.TrailerSize;
        if (total > int.MaxValue) throw new IndexFormatException("index: file would exceed 2 GiB");
        var data = new byte[total];
        var s = data.AsSpan();
        ClipFormat.Magic.CopyTo(s);
        BinaryPrimitives.WriteUInt16LittleEndian(s[ClipFormat.HdrVersion..], ClipFormat.Version);
        BinaryPrimitives.WriteUInt16LittleEndian(s[ClipFormat.HdrHeaderSize..], ClipFormat.HeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(s[ClipFormat.HdrSectionCount..], (uint)sections.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(s[ClipFormat.HdrFileLength..], (ulong)total);
        for (int i = 0; i < sections.Count; i++)
        {
            var e = s.Slice(ClipFormat.HeaderSize + i * ClipFormat.SectionEntrySize, ClipFormat.SectionEntrySize);
            BinaryPrimitives.WriteUInt32LittleEndian(e[ClipFormat.SecKind..], sections[i].kind);
            BinaryPrimitives.WriteUInt64LittleEndian(e[ClipFormat.SecOffset..], (ulong)offsets[i]);
            BinaryPrimitives.WriteUInt64LittleEndian(e[ClipFormat.SecLength..], (ulong)sections[i].bytes.Length);
            sections[i].bytes.Span.CopyTo(s[(int)offsets[i]..]);
        }
        SHA256.HashData(s[..^ClipFormat.TrailerSize], s[^ClipFormat.TrailerSize..]);
        return data;
    }

    /// <summary>Writes an index file durably: temp file in the same directory, fsync, rename.</summary>
    public static void Write(string path, ImageInfo? image, IEnumerable<ReadOnlyMemory<byte>> layerSections) =>
        DurableFile.Write(path, Serialize(image, layerSections));
}

/// <summary>The image section: length-prefixed fields read in order, every length checked.</summary>
internal static class ImageSection
{
    private const ushort SectionVersion = 1;

    public static byte[] Write(ImageInfo image)
    {
        var ms = new MemoryStream();
        var b8 = new byte[8];
        void U16(ushort v) { BinaryPrimitives.WriteUInt16LittleEndian(b8, v); ms.Write(b8, 0, 2); }
        void U32(uint v) { BinaryPrimitives.WriteUInt32LittleEndian(b8, v); ms.Write(b8, 0, 4); }
        void I64(long v) { BinaryPrimitives.WriteInt64LittleEndian(b8, v); ms.Write(b8); }
        void Str(string v) { var b = Encoding.UTF8.GetBytes(v); U32((uint)b.Length); ms.Write(b); }
        U16(SectionVersion);
        Str(image.Reference);
        Str(image.ManifestDigest.ToString());
        Str(image.ManifestMediaType);
        Str(image.Platform);
        Str(image.ConfigDigest.ToString());
        U32((uint)image.Layers.Count);
        foreach (var l in image.Layers)
        {
            Str(l.Digest.ToString());
            Str(l.MediaType);
            I64(l.Size);
            Str(l.DiffId.ToString());
        }
        return ms.ToArray();
    }

    public static ImageInfo Read(ReadOnlySpan<byte> s)
    {
        int pos = 0;
        ReadOnlySpan<byte> Take(ReadOnlySpan<byte> span, int n)
        {
            if (n < 0 || pos + n > span.Length) throw new IndexFormatException("index: image section is truncated");
            var r = span.Slice(pos, n);
            pos += n;
            return r;
        }
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(Take(s, 2));
        if (version != SectionVersion) throw new IndexFormatException($"index: image section version {version} is not supported");
        string Str(ReadOnlySpan<byte> span) => Encoding.UTF8.GetString(Take(span, (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(Take(span, 4)), int.MaxValue)));
        Digest Dig(ReadOnlySpan<byte> span, string what)
        {
            string v = Str(span);
            return Digest.TryParse(v, out var d) ? d : throw new IndexFormatException($"index: image section has a malformed {what} \"{v}\"");
        }
        string reference = Str(s);
        var manifest = Dig(s, "manifest digest");
        string mediaType = Str(s);
        string platform = Str(s);
        var config = Dig(s, "config digest");
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(Take(s, 4));
        if (count > 10_000) throw new IndexFormatException("index: image section lists an absurd number of layers");
        var layers = new List<ImageLayer>();
        for (int i = 0; i < count; i++)
        {
            var d = Dig(s, "layer digest");
            string mt = Str(s);
            long size = BinaryPrimitives.ReadInt64LittleEndian(Take(s, 8));
            var diff = Dig(s, "diff ID");
            layers.Add(new ImageLayer(d, mt, size, diff));
        }
        return new ImageInfo(reference, manifest, mediaType, platform, config, layers);
    }
}
