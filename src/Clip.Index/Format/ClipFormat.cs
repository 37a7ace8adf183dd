namespace Clip.Index.Format;

/// <summary>
/// The .clip index file format, version 1. Little-endian throughout; every offset below is a
/// constant so the layout can be read off this file.
///
/// <code>
/// file    := header(64) sectionTable(sectionCount × 32) section* sha256(32 bytes over everything before it)
/// header  := magic(8) version(u16) headerSize(u16) sectionCount(u32) fileLength(u64) reserved(40)
/// section := kind(u32) reserved(u32) offset(u64) length(u64) reserved(u64)   — sections are 8-byte aligned
/// </code>
/// A layer section holds one layer's entries, strings, attributes, owner names, checkpoints,
/// checkpoint windows and the sha256 of every verification chunk of the compressed blob. An
/// image section holds the image's identity and ordered layer list.
/// </summary>
public static class ClipFormat
{
    /// <summary>"\x89CLIP\r\n\x1a": a non-ASCII first byte and CR/LF/EOF bytes catch text-mode mangling, as PNG's signature does.</summary>
    public static ReadOnlySpan<byte> Magic => [0x89, (byte)'C', (byte)'L', (byte)'I', (byte)'P', 0x0d, 0x0a, 0x1a];

    public const ushort Version = 1;
    public const int HeaderSize = 64;
    public const int SectionEntrySize = 32;
    public const int TrailerSize = 32;

    // header
    public const int HdrMagic = 0, HdrVersion = 8, HdrHeaderSize = 10, HdrSectionCount = 12, HdrFileLength = 16;
    // section table entry
    public const int SecKind = 0, SecOffset = 8, SecLength = 16;

    public const uint SectionImage = 1;
    public const uint SectionLayer = 2;

    /// <summary>Upper bounds that keep a hostile file from asking for absurd allocations.</summary>
    public const int MaxSections = 4096;
}

/// <summary>Fixed layout of a layer section's header (section-relative offsets).</summary>
public static class LayerLayout
{
    public const int HeaderSize = 128;
    public const int HeaderSizeField = 0, Compression = 4, EntryCount = 8, AttributeCount = 12, OwnerCount = 16,
        CheckpointCount = 20, ChunkCount = 24, ChunkSize = 28, CompressedSize = 32, UncompressedSize = 40, SpanSize = 48,
        DigestRef = 56, DiffIdRef = 64, MediaTypeRef = 72, EntriesOffset = 80, StringsOffset = 84, StringsLength = 88,
        AttributesOffset = 92, OwnersOffset = 96, CheckpointsOffset = 100, WindowsOffset = 104, WindowsLength = 108,
        ChunksOffset = 112, DroppedEntries = 116;

    /// <summary>A string reference: offset(u32) length(u16) reserved(u16) into the strings table.</summary>
    public const int StringRefSize = 8;
}

/// <summary>Fixed layout of one entry record (88 bytes).</summary>
public static class EntryLayout
{
    public const int Size = 88;
    public const int Parent = 0, NameOffset = 4, NameLength = 8, Type = 10, Flags = 11, Mode = 12, Uid = 16, Gid = 20,
        MTimeSeconds = 24, MTimeNanoseconds = 32, LinkCount = 36, FileSize = 40, DataOffset = 48, CompleteBy = 56,
        /// <summary>directory: first child; symlink: target string offset; hardlink: target entry; device: major.</summary>
        Ref1 = 64,
        /// <summary>directory: child count; symlink: target length; device: minor.</summary>
        Ref2 = 68,
        AttrStart = 72, AttrCount = 76, UserName = 78, GroupName = 80;
}

/// <summary>Fixed layout of one attribute record (16 bytes).</summary>
public static class AttributeLayout
{
    public const int Size = 16;
    public const int KeyOffset = 0, KeyLength = 4, Kind = 6, ValueOffset = 8, ValueLength = 12;
}

/// <summary>Fixed layout of one checkpoint record (32 bytes).</summary>
public static class CheckpointLayout
{
    public const int Size = 32;
    public const int In = 0, Out = 8, Bits = 16, Flags = 17, WindowLength = 20, WindowOffset = 24, WindowCompressedLength = 28;

    /// <summary>Flag: the window is not stored; it is the <c>WindowLength</c> compressed bytes before <c>In</c>.</summary>
    public const byte FlagWindowInStream = 1;
}

/// <summary>Owner names (uname/gname) are interned: offset(u32) length(u16) reserved(u16).</summary>
public static class OwnerLayout
{
    public const int Size = 8;
}

/// <summary>The index file is malformed, truncated, corrupt or of a version this build does not read.</summary>
public sealed class IndexFormatException(string message) : IOException(message);
