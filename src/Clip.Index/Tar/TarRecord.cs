namespace Clip.Index.Tar;

/// <summary>One tar entry as the stream describes it, after PAX and GNU long-name records are applied.</summary>
public sealed class TarRecord
{
    /// <summary>The raw name bytes (not yet normalised).</summary>
    public byte[] Name { get; set; } = [];
    public byte TypeFlag { get; set; }
    /// <summary>Permission bits including setuid, setgid and sticky (07777).</summary>
    public uint Mode { get; set; }
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    public string UserName { get; set; } = "";
    public string GroupName { get; set; } = "";
    public long MTimeSeconds { get; set; }
    public int MTimeNanoseconds { get; set; }
    /// <summary>Bytes of content that follow the header.</summary>
    public long Size { get; set; }
    public byte[] LinkName { get; set; } = [];
    public uint DevMajor { get; set; }
    public uint DevMinor { get; set; }
    public List<KeyValuePair<string, byte[]>> Xattrs { get; } = [];
    public List<KeyValuePair<string, byte[]>> PaxRecords { get; } = [];
    /// <summary>Offset of the entry's header block in the uncompressed stream.</summary>
    public long HeaderOffset { get; set; }
    /// <summary>Offset of the entry's content in the uncompressed stream.</summary>
    public long DataOffset { get; set; }
    /// <summary>The compressed offset by which all of the content has been produced (0 when not compressed or empty).</summary>
    public long CompleteBy { get; set; }

    public bool IsRegular => TypeFlag is (byte)'0' or 0 or (byte)'7';

    public string DisplayName => System.Text.Encoding.UTF8.GetString(Name);
}

/// <summary>Receives entries from <see cref="TarStreamParser"/>.</summary>
public interface ITarConsumer
{
    /// <summary>A regular file's content starts now (the header has just been read); nothing of it has been produced yet.</summary>
    void OnContentStart(TarRecord record);

    /// <summary>An entry is complete (for a regular file: all its content has passed).</summary>
    void OnEntry(TarRecord record);
}
