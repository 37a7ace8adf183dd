namespace Clip.Index;

/// <summary>The kind of a layer entry. Whiteouts are entries of the layer; overlay rules are applied by whoever stacks layers.</summary>
public enum EntryType : byte
{
    Regular = 1,
    Directory = 2,
    Symlink = 3,
    /// <summary>Another name for an earlier regular file of the same layer (one inode).</summary>
    Hardlink = 4,
    CharDevice = 5,
    BlockDevice = 6,
    Fifo = 7,
    /// <summary>An OCI whiteout (<c>.wh.NAME</c>): NAME is deleted from the layers below.</summary>
    Whiteout = 8,
}

/// <summary>Per-entry flags.</summary>
[Flags]
public enum EntryFlags : byte
{
    None = 0,
    /// <summary>The directory hides everything below it in lower layers (<c>.wh..wh..opq</c>).</summary>
    Opaque = 1,
    /// <summary>The directory had no tar entry of its own; it exists because something below it did.</summary>
    Implicit = 2,
}

/// <summary>What an attribute record holds.</summary>
public enum AttributeKind : byte
{
    Xattr = 1,
    /// <summary>A PAX extended-header record clip does not interpret (kept for inspection).</summary>
    PaxRecord = 2,
}
