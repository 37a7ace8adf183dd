using System.CommandLine;
using Clip.FileSystem;
using Clip.Interop;

namespace Clip.Cli;

/// <summary>
/// <c>clipctl umount MOUNTPOINT | --cid ID</c>: takes away what <c>clipctl mount</c> serves and makes sure
/// nothing is left — no mount (busy ones are detached lazily and their server stopped), no serving process,
/// and for a container its run directory and writable layer.
/// </summary>
internal static class UmountCommand
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(20);

    public static Command Create(CliConsole console)
    {
        var mpArg = new Argument<string?>("MOUNTPOINT") { Description = "Where clipctl mount serves", Arity = ArgumentArity.ZeroOrOne };
        var cidOpt = new Option<string?>("--cid") { Description = "Unmount container ID's rootfs and layer trees, stop its server, delete its writable layer", HelpName = "ID" };
        var runDirOpt = new Option<string?>("--run-dir") { Description = "Where mount state lives (default /run/clip)", HelpName = "DIR" };
        var rootOpt = new Option<string?>("--root") { Description = "clip's state directory (default /var/lib/clip as root): containers/ID is deleted with --cid", HelpName = "DIR" };
        var cmd = new Command("umount", "Unmount what clipctl mount serves (a mount point, or a container with --cid) and stop its server") { mpArg, cidOpt, runDirOpt, rootOpt };
        cmd.SetAction((parse, ct) => ClipCtl.Guard(console, async () =>
        {
            string runDir = Path.GetFullPath(parse.GetValue(runDirOpt) ?? MountState.DefaultRunDirectory);
            string root = parse.GetValue(rootOpt) ?? RegistryOptions.DefaultRoot;
            if (parse.GetValue(cidOpt) is { } cid)
            {
                if (parse.GetValue(mpArg) is not null) throw new ArgumentException("give either MOUNTPOINT or --cid ID");
                return await UnmountContainerAsync(console, MountState.ValidateContainerId(cid), runDir, root);
            }
            string mp = parse.GetValue(mpArg) is { } m ? Path.GetFullPath(m) : throw new ArgumentException("say what to unmount: MOUNTPOINT or --cid ID");
            return await UnmountAsync(console, mp, runDir);
        }));
        return cmd;
    }

    private static async Task<int> UnmountAsync(CliConsole console, string mountPoint, string runDir)
    {
        string statePath = MountState.PlainPath(runDir, mountPoint);
        var state = MountState.Read(statePath);
        if (MountInfo.Find(mountPoint) is not { } mount)
        {
            if (state is not null && !state.ServerAlive()) File.Delete(statePath);
            throw new InvalidOperationException($"{mountPoint} is not mounted");
        }
        if (state is null && !mount.FileSystemType.StartsWith("fuse", StringComparison.Ordinal))
            throw new InvalidOperationException($"{mountPoint} is a {mount.FileSystemType} mount, not one of clipctl's");
        var errno = Libc.TryUnmount(mountPoint, Libc.UMOUNT_NOFOLLOW);
        if (errno == Errno.EBUSY)
        {
            // In use: detach it now; its server (asked to stop below) ends the session after a short grace.
            errno = Libc.TryUnmount(mountPoint, Libc.MNT_DETACH | Libc.UMOUNT_NOFOLLOW);
            await console.Error.WriteLineAsync($"clipctl: {mountPoint} was busy; detached it (open files fail once the server stops)");
            if (state is not null) await state.StopServerAsync(StopTimeout);
        }
        if (errno != 0 && errno != Errno.EINVAL) throw new LinuxException("umount2", mountPoint, errno);
        // The server exits when the session ends; wait for it so nothing serving outlives the command.
        if (state is not null)
        {
            var deadline = DateTime.UtcNow + StopTimeout;
            while (state.ServerAlive() && DateTime.UtcNow < deadline) await Task.Delay(50);
            if (state.ServerAlive()) await state.StopServerAsync(TimeSpan.FromSeconds(5));
            while (state.Pid != Environment.ProcessId && !state.Exited() && DateTime.UtcNow < deadline) await Task.Delay(50);
            if (!state.ServerAlive() && state.Pid != Environment.ProcessId && File.Exists(statePath)) File.Delete(statePath);
        }
        return 0;
    }

    private static async Task<int> UnmountContainerAsync(CliConsole console, string cid, string runDir, string root)
    {
        string run = MountState.ContainerRunDirectory(runDir, cid);
        string statePath = MountState.ContainerPath(runDir, cid);
        var state = MountState.Read(statePath);
        string containerDir = state?.ContainerDirectory ?? Path.Combine(root, "containers", cid);
        if (state is null && !Directory.Exists(run) && !Directory.Exists(containerDir))
            throw new KeyNotFoundException($"no container {cid} (nothing in {run} or {containerDir})");

        // The rootfs first (it holds the layer trees), then the server, which unmounts its layer trees on SIGTERM.
        if (state is not null) MountCommand.UnmountRootfs(state.MountPoint);
        if (state is not null)
        {
            if (state.ServerAlive()) await state.StopServerAsync(StopTimeout);
            else if (state.Pid == Environment.ProcessId)
            {
                // Served by this very process (clipctl run in-process): unmounting the layer trees ends that server.
                foreach (var mp in MountInfo.MountPointsUnder(Path.Combine(run, "layers"))) Libc.TryUnmount(mp, 0);
                var deadline = DateTime.UtcNow + StopTimeout;
                while (File.Exists(statePath) && DateTime.UtcNow < deadline) await Task.Delay(50);
            }
        }
        // Whatever is left (a server that crashed, fuse-overlayfs): detach it.
        MountState.DetachAll(state?.MountPoint, run);
        var left = MountInfo.MountPointsUnder(run).Concat(state is null ? [] : MountInfo.MountPointsUnder(state.MountPoint)).ToList();
        if (left.Count > 0) throw new IOException($"container {cid}: still mounted: {string.Join(", ", left)}");
        if (MountInfo.MountPointsUnder(containerDir).Count > 0) throw new IOException($"container {cid}: something is mounted under {containerDir}; not deleting it");
        // Nothing is mounted below either directory now, so a recursive delete cannot reach into a layer.
        if (Directory.Exists(run)) Directory.Delete(run, recursive: true);
        if (state is not null && !state.MountPoint.StartsWith(run + "/", StringComparison.Ordinal) && Directory.Exists(state.MountPoint)
            && !Directory.EnumerateFileSystemEntries(state.MountPoint).Any())
            Directory.Delete(state.MountPoint);
        if (Directory.Exists(containerDir)) Directory.Delete(containerDir, recursive: true);
        await console.Error.WriteLineAsync($"clipctl: container {cid} unmounted and removed");
        return 0;
    }
}
