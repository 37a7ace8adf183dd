using Clip.Testing;

namespace Clip.Fuse.Tests.Support;

/// <summary>A test filesystem mounted through the kernel at a fresh directory; dispose unmounts and checks nothing is left.</summary>
public sealed class Mounted : IAsyncDisposable
{
    private readonly TempDir _dir;

    private Mounted(TempDir dir, string mountPoint, FuseServer server, ListLogger logger)
    {
        _dir = dir;
        MountPoint = mountPoint;
        Server = server;
        Logger = logger;
    }

    public string MountPoint { get; }
    public FuseServer Server { get; }
    public ListLogger Logger { get; }

    public static async Task<Mounted> StartAsync(IFuseFileSystem fs, FuseMountOptions? mount = null, FuseServerOptions? options = null)
    {
        var dir = new TempDir("clip-fuse");
        var mountPoint = dir.Combine("mnt");
        Directory.CreateDirectory(mountPoint);
        var logger = new ListLogger();
        try
        {
            var server = await FuseServer.MountAsync(mountPoint, fs, mount ?? new FuseMountOptions { Source = "clip-test" }, options, logger);
            return new Mounted(dir, mountPoint, server, logger);
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    public string this[string relative] => Path.Combine(MountPoint, relative);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Server.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            if (MountTable.IsMounted(MountPoint)) Clip.Interop.Libc.TryUnmount(MountPoint, Clip.Interop.Libc.MNT_DETACH);
            _dir.Dispose();
        }
    }
}

/// <summary>/proc/self/mountinfo, for asserting what is mounted where.</summary>
public static class MountTable
{
    public sealed record Mount(string MountPoint, string FsType, string Source, string Options);

    public static IReadOnlyList<Mount> Read()
    {
        var list = new List<Mount>();
        foreach (var line in File.ReadAllLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            var parts = line.Split(' ');
            int dash = Array.IndexOf(parts, "-");
            list.Add(new Mount(Unescape(parts[4]), parts[dash + 1], Unescape(parts[dash + 2]), parts[5] + "," + parts[dash + 3]));
        }
        return list;
    }

    public static Mount? Find(string mountPoint) => Read().LastOrDefault(m => m.MountPoint == mountPoint);

    public static bool IsMounted(string mountPoint) => Find(mountPoint) is not null;

    private static string Unescape(string s) =>
        System.Text.RegularExpressions.Regex.Replace(s, @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString());
}
