namespace Clip.Snapshots;

/// <summary>What containerd's snapshots.Info carries: name, parent, kind, times and labels.</summary>
public sealed record SnapshotInfo(
    string Name,
    string Parent,
    SnapshotKind Kind,
    DateTime CreatedUtc,
    DateTime UpdatedUtc,
    IReadOnlyDictionary<string, string> Labels);

/// <summary>Disk resources a snapshot holds (containerd's snapshots.Usage): bytes and inode count.</summary>
public readonly record struct SnapshotUsage(long Size, long Inodes);

/// <summary>One mount(2) description handed to containerd (containerd's mount.Mount).</summary>
public sealed record MountSpec(string Type, string Source, IReadOnlyList<string> Options)
{
    public override string ToString() => $"{Type} {Source} [{string.Join(',', Options)}]";
}
