using System.Buffers.Binary;
using Clip.Index.Format;
using Clip.Oci;
using Clip.Testing;

namespace Clip.Index.Tests;

public class FormatTests
{
    private static async Task<(byte[] File, ImageInfo Image)> SampleFileAsync()
    {
        var l1 = LayerBuilder.Gzip(new LayerBuilder().Dir("etc").File("etc/a", "one").Symlink("s", "etc/a").BuildTar());
        var l2 = LayerBuilder.Gzip(new LayerBuilder().File("etc/b", "two", mode: 0b111_000_000).Whiteout("s")
            .File("x", new byte[10], xattrs: null).BuildTar());
        var i1 = await IndexHelpers.IndexAsync(l1);
        var i2 = await IndexHelpers.IndexAsync(l2);
        var image = new ImageInfo("example.com/app:1", Digest.Sha256("m"u8), MediaTypes.OciManifest, "linux/amd64", Digest.Sha256("c"u8),
            [new ImageLayer(i1.Digest, MediaTypes.OciLayerGzip, l1.Length, i1.DiffId), new ImageLayer(i2.Digest, MediaTypes.OciLayerGzip, l2.Length, i2.DiffId)]);
        return (ClipIndexFile.Serialize(image, [i1.Section, i2.Section]), image);
    }

    [Fact]
    public async Task A_written_index_reads_back_identically()
    {
        var (bytes, image) = await SampleFileAsync();
        var file = ClipIndexFile.Parse(bytes);
        Assert.Equal(image.Reference, file.Image!.Reference);
        Assert.Equal(image.Layers, file.Image.Layers);
        Assert.Equal(image.ChainIds, file.Image.ChainIds);
        Assert.Equal(2, file.Layers.Count);
        Assert.Equal("two".Length, file.ImageLayers()[1].Find("etc/b")!.Value.Size);
        Assert.Equal(bytes, ClipIndexFile.Serialize(file.Image, file.Layers.Select(l => l.Section)));
    }

    [Fact]
    public async Task Truncated_files_are_refused()
    {
        var (bytes, _) = await SampleFileAsync();
        foreach (int cut in new[] { 1, 31, 32, 100, bytes.Length - 10 })
            Assert.Throws<IndexFormatException>(() => ClipIndexFile.Parse(bytes[..^cut]));
    }

    [Fact]
    public async Task Any_flipped_byte_is_caught_by_the_checksum()
    {
        var (bytes, _) = await SampleFileAsync();
        var rng = new Random(1);
        for (int i = 0; i < 50; i++)
        {
            var copy = (byte[])bytes.Clone();
            copy[rng.Next(8, copy.Length)] ^= (byte)(1 << rng.Next(8));
            var e = Assert.Throws<IndexFormatException>(() => ClipIndexFile.Parse(copy));
            Assert.Matches("checksum|truncated|version|header", e.Message);
        }
    }

    [Fact]
    public async Task Unknown_versions_are_refused_with_a_clear_error()
    {
        var (bytes, _) = await SampleFileAsync();
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(ClipFormat.HdrVersion), 9);
        var e = Assert.Throws<IndexFormatException>(() => ClipIndexFile.Parse(bytes));
        Assert.Contains("version 9 is not supported", e.Message);
    }

    [Fact]
    public void Non_index_files_are_refused()
    {
        Assert.Contains("bad magic", Assert.Throws<IndexFormatException>(() => ClipIndexFile.Parse(new byte[200])).Message);
        Assert.Throws<IndexFormatException>(() => ClipIndexFile.Parse([]));
    }

    [Fact]
    public async Task Structurally_corrupt_sections_with_a_valid_checksum_are_refused()
    {
        // A hostile file can carry a correct checksum: structure is validated too.
        var (bytes, _) = await SampleFileAsync();
        var file = ClipIndexFile.Parse(bytes);
        var section = file.Layers[0].Section.ToArray();
        int entries = (int)BinaryPrimitives.ReadUInt32LittleEndian(section.AsSpan(LayerLayout.EntriesOffset));
        BinaryPrimitives.WriteUInt32LittleEndian(section.AsSpan(entries + EntryLayout.Size + EntryLayout.NameOffset), 0x7fff_0000);
        var bad = ClipIndexFile.Serialize(null, [section]);
        var e = Assert.Throws<IndexFormatException>(() => ClipIndexFile.Parse(bad));
        Assert.Contains("string table", e.Message);
    }

    [Fact]
    public async Task Durable_write_replaces_the_file_atomically()
    {
        var (bytes, image) = await SampleFileAsync();
        using var dir = new TempDir();
        var path = dir.Combine("img.clip");
        var file = ClipIndexFile.Parse(bytes);
        ClipIndexFile.Write(path, image, file.Layers.Select(l => l.Section));
        ClipIndexFile.Write(path, image, file.Layers.Select(l => l.Section));
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
