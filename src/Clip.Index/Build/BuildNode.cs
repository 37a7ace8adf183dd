namespace Clip.Index.Build;

/// <summary>A mutable tree node while a layer is being indexed (names are Latin1 strings: one char per byte).</summary>
internal sealed class BuildNode
{
    public required string Name;
    public BuildNode? Parent;
    public EntryType Type;
    public EntryFlags Flags;
    public uint Mode, Uid, Gid;
    public string UserName = "", GroupName = "";
    public long MTimeSeconds;
    public int MTimeNanoseconds;
    public long Size, DataOffset, CompleteBy;
    public byte[] SymlinkTarget = [];
    public uint DevMajor, DevMinor;
    public List<KeyValuePair<string, byte[]>>? Xattrs, PaxRecords;
    public Dictionary<string, BuildNode>? Children;
    /// <summary>For a hardlink: the node holding the inode.</summary>
    public BuildNode? LinkTarget;
    /// <summary>For an inode with other names: the hardlink nodes pointing at it.</summary>
    public List<BuildNode>? Links;
    public int Index = -1;
    public bool Detached;

    public bool IsDirectory => Type == EntryType.Directory;

    public string Path
    {
        get
        {
            var parts = new List<string>();
            for (var n = this; n?.Parent is not null; n = n.Parent) parts.Add(n.Name);
            parts.Reverse();
            return string.Join('/', parts);
        }
    }

    /// <summary>Copies the inode part (type, content, metadata) of <paramref name="from"/>; keeps name and place.</summary>
    public void CopyInodeFrom(BuildNode from)
    {
        Type = from.Type;
        Flags = from.Flags;
        Mode = from.Mode;
        Uid = from.Uid;
        Gid = from.Gid;
        UserName = from.UserName;
        GroupName = from.GroupName;
        MTimeSeconds = from.MTimeSeconds;
        MTimeNanoseconds = from.MTimeNanoseconds;
        Size = from.Size;
        DataOffset = from.DataOffset;
        CompleteBy = from.CompleteBy;
        SymlinkTarget = from.SymlinkTarget;
        DevMajor = from.DevMajor;
        DevMinor = from.DevMinor;
        Xattrs = from.Xattrs;
        PaxRecords = from.PaxRecords;
        LinkTarget = null;
    }
}
