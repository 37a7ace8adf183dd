using System.Collections.Concurrent;
using Clip.Interop;
using Clip.Snapshots;
using Clip.Snapshots.Remote;

namespace Clip.Snapshots.Tests.Fakes;

/// <summary>
/// A lazy filesystem for tests. It knows a set of layers (digest → files) and "mounts" one by
/// writing its files into the mountpoint (no root needed), or, with <see cref="UseBindMounts"/>,
/// by bind-mounting a prepared read-only directory there (a real mount, as FUSE would make).
/// Either way the mountpoint holds a real tree usable as an overlay lowerdir. Every call is recorded.
/// </summary>
public sealed class FakeRemoteLayerFileSystem : IRemoteLayerFileSystem, IDisposable
{
    private const ulong MsRemount = 32; // linux/mount.h MS_REMOUNT
    private readonly ConcurrentDictionary<string, IReadOnlyDictionary<string, string>> _layers = new();
    private readonly ConcurrentDictionary<string, RemoteLayer> _resolvable = new();
    private readonly string _sources = Path.Combine(Path.GetTempPath(), "clip-fakefs-" + Guid.NewGuid().ToString("N")[..12]);

    /// <summary>Mount with real read-only bind mounts (needs root) instead of copying files.</summary>
    public bool UseBindMounts { get; init; }

    /// <summary>Layer digests for which MountAsync throws <see cref="LayerNotServableException"/>.</summary>
    public ConcurrentDictionary<string, bool> NotServable { get; } = new();

    /// <summary>Layer digests for which MountAsync throws an IOException (a broken registry, say).</summary>
    public ConcurrentDictionary<string, bool> Broken { get; } = new();

    /// <summary>When set, MountAsync waits for this before returning (to park a Prepare mid-mount).</summary>
    public TaskCompletionSource? MountGate { get; set; }

    /// <summary>What is mounted where now.</summary>
    public ConcurrentDictionary<string, RemoteLayer> Mounted { get; } = new();

    /// <summary>Every call, in order: "mount &lt;digest&gt; &lt;mountpoint&gt;", "unmount &lt;mountpoint&gt;", "check &lt;mountpoint&gt;".</summary>
    public ConcurrentQueue<string> Calls { get; } = new();

    public void AddLayer(string digest, IReadOnlyDictionary<string, string> files) => _layers[digest] = files;

    /// <summary>A layer whose tree is an existing directory (bind mounts only): served as it is.</summary>
    public void AddLayerDirectory(string digest, string directory)
    {
        _layers[digest] = new Dictionary<string, string>();
        _directories[digest] = directory;
    }

    private readonly ConcurrentDictionary<string, string> _directories = new();

    /// <summary>Makes <paramref name="chainId"/> resolvable without image labels, as layer <paramref name="digest"/>.</summary>
    public void AddResolvable(string chainId, string digest) =>
        _resolvable[chainId] = new RemoteLayer(chainId, "fake.local/resolved:1", digest, null, [], new Dictionary<string, string>
        {
            ["containerd.io/snapshot/cri.image-ref"] = "fake.local/resolved:1",
            ["containerd.io/snapshot/cri.layer-digest"] = digest,
        });

    /// <summary>Simulates the serving process dying: the tree at <paramref name="mountpoint"/> stops answering checks.</summary>
    public void Kill(string mountpoint) => Mounted.TryRemove(mountpoint, out _);

    public async Task MountAsync(string mountpoint, RemoteLayer layer, CancellationToken cancellationToken)
    {
        string digest = layer.LayerDigest ?? layer.ChainId;
        Calls.Enqueue($"mount {digest} {mountpoint}");
        if (NotServable.ContainsKey(digest)) throw new LayerNotServableException($"{digest} is not indexable (fake)");
        if (Broken.ContainsKey(digest)) throw new IOException($"registry unreachable for {digest} (fake)");
        if (!_layers.TryGetValue(digest, out var files)) throw new LayerNotServableException($"{digest} unknown to the fake");
        if (MountGate is { } gate) await gate.Task.WaitAsync(cancellationToken);
        if (Directory.EnumerateFileSystemEntries(mountpoint).Any())
            throw new IOException($"{mountpoint} is not empty");

        if (UseBindMounts)
        {
            if (!_directories.TryGetValue(digest, out string? source))
            {
                source = Path.Combine(_sources, digest.Replace(':', '_'));
                if (!Directory.Exists(source)) WriteTree(source, files);
            }
            Libc.Mount(source, mountpoint, null, Libc.MS_BIND, null);
            Libc.Mount(null, mountpoint, null, Libc.MS_BIND | MsRemount | Libc.MS_RDONLY, null);
        }
        else
        {
            WriteTree(mountpoint, files);
        }
        Mounted[mountpoint] = layer;
    }

    public Task CheckAsync(string mountpoint, RemoteLayer layer, CancellationToken cancellationToken)
    {
        Calls.Enqueue($"check {mountpoint}");
        return Mounted.ContainsKey(mountpoint) ? Task.CompletedTask : throw new IOException($"{mountpoint}: transport endpoint is not connected (fake)");
    }

    public Task UnmountAsync(string mountpoint, CancellationToken cancellationToken)
    {
        Calls.Enqueue($"unmount {mountpoint}");
        Mounted.TryRemove(mountpoint, out _);
        if (UseBindMounts)
        {
            while (Libc.TryUnmount(mountpoint, Libc.MNT_DETACH) == 0) { }
        }
        else if (Directory.Exists(mountpoint))
        {
            foreach (var e in new DirectoryInfo(mountpoint).EnumerateFileSystemInfos())
            {
                if (e is DirectoryInfo d) d.Delete(recursive: true); else e.Delete();
            }
        }
        return Task.CompletedTask;
    }

    public Task<SnapshotUsage> UsageAsync(string mountpoint, CancellationToken cancellationToken) =>
        Task.FromResult(Mounted.TryGetValue(mountpoint, out var layer) && _layers.TryGetValue(layer.LayerDigest ?? layer.ChainId, out var files)
            ? new SnapshotUsage(files.Values.Sum(v => (long)v.Length), files.Count)
            : default);

    public Task<RemoteLayer?> TryResolveChainIdAsync(string chainId, CancellationToken cancellationToken) =>
        Task.FromResult(_resolvable.TryGetValue(chainId, out var layer) ? layer : null);

    private static void WriteTree(string root, IReadOnlyDictionary<string, string> files)
    {
        Directory.CreateDirectory(root);
        foreach (var (path, content) in files)
        {
            string full = Path.Combine(root, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, content);
        }
    }

    public void Dispose()
    {
        foreach (string mp in Mounted.Keys) UnmountAsync(mp, default).GetAwaiter().GetResult();
        try { Directory.Delete(_sources, recursive: true); } catch (DirectoryNotFoundException) { }
    }
}

/// <summary>Labels as containerd's CRI plugin sends them on Prepare for one layer of an image.</summary>
public static class CriLabels
{
    public static Dictionary<string, string> For(string chainId, string layerDigest, string imageRef = "registry.local/app:1",
        string manifestDigest = "sha256:" + "m0", params string[] imageLayers) => new()
    {
        ["containerd.io/snapshot.ref"] = chainId,
        ["containerd.io/snapshot/cri.image-ref"] = imageRef,
        ["containerd.io/snapshot/cri.layer-digest"] = layerDigest,
        ["containerd.io/snapshot/cri.manifest-digest"] = manifestDigest,
        ["containerd.io/snapshot/cri.image-layers"] = string.Join(',', imageLayers.Length > 0 ? imageLayers : [layerDigest]),
    };
}
