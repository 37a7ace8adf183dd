using Clip.Snapshots.Remote;

namespace Clip.Snapshots;

/// <summary>How a <see cref="Snapshotter"/> is set up.</summary>
public sealed class SnapshotterOptions
{
    /// <summary>Root directory: <c>metadata.db</c> and <c>snapshots/&lt;id&gt;/{fs,work}</c> live here.</summary>
    public required string RootDirectory { get; init; }

    /// <summary>The lazy filesystem; the default serves nothing, so every layer is a normal overlay snapshot.</summary>
    public IRemoteLayerFileSystem RemoteFileSystem { get; init; } = new NoRemoteLayerFileSystem();

    /// <summary>Whether to add <c>index=off</c> to overlay mounts; null: when the kernel knows the option (as containerd decides).</summary>
    public bool? OverlayIndexOff { get; init; }
}

/// <summary>Counts of what the remote flow did since start (exported as metrics by the daemon).</summary>
public sealed class RemoteStatistics
{
    internal long served, notServable, failed, restored, restoreFailed;

    /// <summary>Prepares answered AlreadyExists because the layer is served lazily.</summary>
    public long Served => Interlocked.Read(ref served);
    /// <summary>Prepares that fell back because the filesystem said the layer cannot be served lazily.</summary>
    public long NotServable => Interlocked.Read(ref notServable);
    /// <summary>Prepares that fell back because mounting or committing the layer failed.</summary>
    public long Failed => Interlocked.Read(ref failed);
    /// <summary>Remote layers re-mounted at start or on demand.</summary>
    public long Restored => Interlocked.Read(ref restored);
    /// <summary>Remote layers that could not be restored (marked unavailable).</summary>
    public long RestoreFailed => Interlocked.Read(ref restoreFailed);
}
