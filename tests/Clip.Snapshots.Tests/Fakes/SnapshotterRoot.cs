using Clip.Snapshots.Remote;
using Clip.Testing;

namespace Clip.Snapshots.Tests.Fakes;

/// <summary>A temporary snapshotter root that tests open, "crash" (drop without cleanup) and reopen.</summary>
public sealed class SnapshotterRoot : IAsyncDisposable
{
    private readonly TempDir _dir = new("clip-snap");
    private readonly List<Snapshotter> _opened = [];

    public string Path => _dir.Path;

    public async Task<Snapshotter> OpenAsync(IRemoteLayerFileSystem? remote = null)
    {
        var s = await Snapshotter.OpenAsync(new SnapshotterOptions
        {
            RootDirectory = _dir.Path,
            RemoteFileSystem = remote ?? new NoRemoteLayerFileSystem(),
            OverlayIndexOff = false,
        });
        _opened.Add(s);
        return s;
    }

    public string SnapshotsDirectory => System.IO.Path.Combine(_dir.Path, "snapshots");

    /// <summary>Names of the entries under snapshots/.</summary>
    public string[] Entries() => Directory.GetFileSystemEntries(SnapshotsDirectory).Select(System.IO.Path.GetFileName).Order().ToArray()!;

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _opened) await s.DisposeAsync();
        _dir.Dispose();
    }
}
