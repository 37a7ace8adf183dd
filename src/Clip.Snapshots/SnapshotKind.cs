namespace Clip.Snapshots;

/// <summary>
/// A snapshot's kind. The numeric values are containerd's (snapshots.Kind and the proto enum
/// containerd.services.snapshots.v1.Kind) and are stored in the metadata database: never renumber.
/// </summary>
public enum SnapshotKind
{
    Unknown = 0,
    /// <summary>Read-only view of a committed parent; never committed itself.</summary>
    View = 1,
    /// <summary>Writable; may be committed.</summary>
    Active = 2,
    /// <summary>Immutable; may be a parent.</summary>
    Committed = 3,
}

/// <summary>The spelling of kinds in containerd filters (<c>kind==active</c>).</summary>
public static class SnapshotKindNames
{
    public static string ToFilterValue(this SnapshotKind kind) => kind switch
    {
        SnapshotKind.Active => "active",
        SnapshotKind.View => "view",
        SnapshotKind.Committed => "committed",
        _ => "unknown",
    };
}
