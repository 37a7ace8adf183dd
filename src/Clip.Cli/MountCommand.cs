using System.CommandLine;
using System.Diagnostics;
using Clip.Content;
using Clip.FileSystem;
using Clip.Gzip;
using Clip.Index;
using Clip.Index.Build;
using Clip.Index.Format;
using Clip.Interop;
using Clip.Oci;
using Clip.Registry;
using Microsoft.Extensions.Logging;

namespace Clip.Cli;

/// <summary>
/// <c>clipctl mount</c>: serve an image read-only over FUSE until <c>clipctl umount</c> or SIGTERM —
/// its merged view at a directory, one layer's own tree (<c>--layer</c>), or a container's rootfs
/// (<c>--cid</c>: the layer trees stacked by overlayfs under a writable upper dir, the seeds' mode).
///
/// The container rootfs stacks one FUSE tree per layer (lowerdir=Ln:…:L1) rather than the merged tree: it is
/// exactly what the snapshotter hands containerd, so this mode exercises the production path, and overlayfs
/// applies whiteouts and opaque directories itself. fuse-overlayfs takes over when the kernel refuses the
/// overlay mount (e.g. inside a user namespace).
///
/// <c>--background</c> re-runs clipctl as a child in its own session with a hidden flag and returns once the
/// child reports the mount ready (.NET cannot fork); the child then logs to a file in the run directory.
/// </summary>
internal static class MountCommand
{
    private const string ServeChildFlag = "--serve-child";
    private const string ReadyLine = "CLIPCTL-READY";

    public static Command Create(CliConsole console)
    {
        var argsArg = new Argument<string[]>("ARGS")
        {
            Description = "FILE MOUNTPOINT (a .clip index made from an OCI layout), MOUNTPOINT with --image; with --cid only FILE, or nothing with --image",
            Arity = new ArgumentArity(0, 2),
        };
        var imageOpt = new Option<string?>("--image") { Description = "Serve this image lazily from its registry (index from the local store, the registry, or made now)", HelpName = "REF" };
        var indexOpt = new Option<string?>("--index") { Description = "With --image: use this .clip index file", HelpName = "FILE" };
        var layoutOpt = new Option<string?>("--oci-layout") { Description = "OCI layout directory holding the blobs of FILE (default: the one the index was made from)", HelpName = "DIR" };
        var layerOpt = new Option<string?>("--layer") { Description = "Serve only this layer's own tree (overlayfs conventions: whiteouts as 0/0 char devices, opaque xattrs)", HelpName = "DIGEST" };
        var cidOpt = new Option<string?>("--cid") { Description = "Container mode: a writable rootfs (overlay over the layer trees, upper dir under <root>/containers/ID); prints its path", HelpName = "ID" };
        var rootfsOpt = new Option<string?>("--rootfs") { Description = "With --cid: where the rootfs goes (default <run-dir>/ID/rootfs)", HelpName = "PATH" };
        var overlayOpt = new Option<string>("--overlay") { Description = "With --cid: kernel, fuse-overlayfs, or auto (kernel, else fuse-overlayfs)", DefaultValueFactory = _ => "auto", HelpName = "DRIVER" };
        var backgroundOpt = new Option<bool>("--background") { Description = "Return once the mount is ready and keep serving in the background" };
        var runDirOpt = new Option<string?>("--run-dir") { Description = "Where mount state and background logs go (default /run/clip)", HelpName = "DIR" };
        var childOpt = new Option<bool>(ServeChildFlag) { Hidden = true };
        var registry = new RegistryOptions();
        var cmd = new Command("mount", "Serve an image read-only over FUSE: its merged view, one layer's tree, or a container rootfs (--cid)")
        {
            argsArg, imageOpt, indexOpt, layoutOpt, layerOpt, cidOpt, rootfsOpt, overlayOpt, backgroundOpt, runDirOpt, childOpt,
        };
        registry.AddTo(cmd);
        cmd.SetAction((parse, ct) => ClipCtl.Guard(console, async () =>
        {
            var args = parse.GetValue(argsArg) ?? [];
            string? image = parse.GetValue(imageOpt);
            string? cid = parse.GetValue(cidOpt) is { } c ? MountState.ValidateContainerId(c) : null;
            int want = (image is null ? 1 : 0) + (cid is null ? 1 : 0);
            if (args.Length != want)
                throw new ArgumentException(cid is null
                    ? "give FILE MOUNTPOINT, or --image REF MOUNTPOINT"
                    : "with --cid give FILE, or --image REF (the rootfs path is printed; --rootfs PATH chooses it)");
            if (image is not null && parse.GetValue(layoutOpt) is not null) throw new ArgumentException("--oci-layout goes with FILE, not --image");
            if (image is null && parse.GetValue(indexOpt) is not null) throw new ArgumentException("--index goes with --image");
            if (cid is not null && parse.GetValue(layerOpt) is not null) throw new ArgumentException("--layer and --cid do not go together");
            if (cid is null && parse.GetValue(rootfsOpt) is not null) throw new ArgumentException("--rootfs goes with --cid");
            string overlay = parse.GetValue(overlayOpt)!;
            if (overlay is not ("auto" or "kernel" or "fuse-overlayfs")) throw new ArgumentException("--overlay takes kernel, fuse-overlayfs or auto");
            string runDir = Path.GetFullPath(parse.GetValue(runDirOpt) ?? MountState.DefaultRunDirectory);
            bool child = parse.GetValue(childOpt);

            if (parse.GetValue(backgroundOpt) && !child)
                return await RunInBackgroundAsync(console, parse.Tokens.Where(t => t.Type != System.CommandLine.Parsing.TokenType.Command).Select(t => t.Value), ct);

            string? mountPoint = cid is null ? Path.GetFullPath(args[^1]) : null;
            if (mountPoint is not null && !Directory.Exists(mountPoint)) throw new DirectoryNotFoundException($"mount point {mountPoint} does not exist");
            TextWriter? logFile = null;
            if (child)
            {
                string logPath = cid is not null
                    ? Path.Combine(MountState.ContainerRunDirectory(runDir, cid), "clipctl.log")
                    : Path.ChangeExtension(MountState.PlainPath(runDir, mountPoint!), ".log");
                Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
                logFile = new StreamWriter(logPath, append: true) { AutoFlush = true };
            }
            using var logger = new LineLogger(logFile ?? console.Error, logFile is null ? LogLevel.Warning : LogLevel.Information);
            try
            {
                await using var source = await OpenAsync(parse, registry, args, image, parse.GetValue(layoutOpt), parse.GetValue(indexOpt), cid is null ? args.Length == 2 : args.Length == 1, ct);
                return cid is null
                    ? await ServeAsync(console, source, mountPoint!, parse.GetValue(layerOpt), runDir, child, logger, ct)
                    : await ServeContainerAsync(console, parse, registry, source, cid, parse.GetValue(rootfsOpt), overlay, runDir, child, logger, ct);
            }
            finally
            {
                logFile?.Dispose();
            }
        }));
        return cmd;
    }

    /// <summary>An image's layers and one reader per layer (owning blob sources and the registry client).</summary>
    internal sealed class ImageSource(string name, IReadOnlyList<LayerIndex> layers, Func<int, LayerReader> openReader, IDisposable? client) : IAsyncDisposable
    {
        public string Name => name;
        public IReadOnlyList<LayerIndex> Layers => layers;
        public LayerReader OpenReader(int layer) => openReader(layer);

        public ValueTask DisposeAsync()
        {
            client?.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private static async Task<ImageSource> OpenAsync(ParseResult parse, RegistryOptions registry, string[] args, string? image, string? layoutDir, string? indexFile,
        bool hasFile, CancellationToken ct)
    {
        var content = registry.Content(parse);
        var cache = new SpanCache(content.CacheDirectory, content.CacheMaxBytes);
        if (image is null)
        {
            if (!hasFile) throw new ArgumentException("say what to mount: FILE (a .clip index) or --image REF");
            var file = ClipIndexFile.Load(args[0]);
            var layers = file.ImageLayers();
            string dir = layoutDir ?? CatCommand.LayoutFromReference(file.Image)
                ?? throw new ArgumentException("this index was not made from an OCI layout: say where the blobs are with --oci-layout DIR, or serve from the registry with --image REF");
            var layout = OciLayout.Open(dir);
            foreach (var layer in layers)
            {
                string blob = layout.BlobPath(layer.Digest);
                if (!File.Exists(blob)) throw new FileNotFoundException($"OCI layout {dir}: blob {layer.Digest} is missing", blob);
                long length = new FileInfo(blob).Length;
                if (length != layer.CompressedSize) throw new InvalidDataException($"blob {layer.Digest} in {dir} is {length} bytes, the index says {layer.CompressedSize}");
            }
            return new ImageSource(file.Image?.Reference ?? args[0], layers,
                i => new LayerReader(layers[i], new FileRangeSource(layout.BlobPath(layers[i].Digest)), cache, content), client: null);
        }

        var client = registry.Client(parse);
        try
        {
            var reference = RegistryOptions.ParseReference(image);
            var (layers, repository, _) = await registry.IndexedImageAsync(client, parse, reference, indexFile, ct);
            return new ImageSource(reference.ToString(), layers, i => RemoteLayers.OpenReader(client, repository, layers[i], cache, content), client);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>The layer named by a digest or a unique prefix of its hex ("sha256:ab12…", "ab12…").</summary>
    internal static int FindLayer(IReadOnlyList<LayerIndex> layers, string digest)
    {
        string hex = digest.StartsWith("sha256:", StringComparison.Ordinal) ? digest[7..] : digest;
        var matches = Enumerable.Range(0, layers.Count).Where(i => layers[i].Digest.Hex.StartsWith(hex, StringComparison.OrdinalIgnoreCase)).Distinct().ToList();
        if (hex.Length == 0 || matches.Count == 0)
            throw new KeyNotFoundException($"the image has no layer {digest} (layers: {string.Join(", ", layers.Select(l => l.Digest.ToString()))})");
        if (matches.Select(i => layers[i].Digest).Distinct().Count() > 1) throw new ArgumentException($"layer prefix {digest} is ambiguous");
        return matches[^1];
    }

    private static async Task<int> ServeAsync(CliConsole console, ImageSource source, string mountPoint, string? layerDigest, string runDir, bool child,
        ILogger logger, CancellationToken ct)
    {
        await using var mounts = new LayerMounts(logger: logger);
        MountedTree tree;
        string what;
        if (layerDigest is not null)
        {
            int i = FindLayer(source.Layers, layerDigest);
            var layer = source.Layers[i];
            var reader = source.OpenReader(i);
            what = $"layer {layer.Digest} of {source.Name}";
            // The layers below give implicit directories their metadata, as in the image's own stack.
            tree = await mounts.MountAsync(mountPoint, new LayerTreeFileSystem(layer, reader, source.Layers.Take(i).ToList()), what,
                new TreeMountOptions { Source = "clip:" + layer.Digest.Hex[..12] }, [reader], ct);
        }
        else
        {
            var readers = new List<LayerReader>();
            try
            {
                for (int i = 0; i < source.Layers.Count; i++) readers.Add(source.OpenReader(i));
            }
            catch
            {
                foreach (var r in readers) r.Dispose();
                throw;
            }
            what = $"image {source.Name}";
            tree = await mounts.MountImageAsync(mountPoint, source.Layers, readers, what, ct);
        }

        string statePath = MountState.PlainPath(runDir, mountPoint);
        new MountState(Environment.ProcessId, mountPoint).Write(statePath);
        try
        {
            await console.Error.WriteLineAsync($"clipctl: serving {what} at {mountPoint} (pid {Environment.ProcessId}); stop with: clipctl umount {mountPoint}");
            if (child) await ReportReadyAsync(console, "");
            await WaitAsync([tree.Completion], ct);
            await mounts.UnmountAsync(mountPoint, CancellationToken.None);
            return 0;
        }
        finally
        {
            if (MountState.Read(statePath)?.Pid == Environment.ProcessId) File.Delete(statePath);
        }
    }

    private static async Task<int> ServeContainerAsync(CliConsole console, ParseResult parse, RegistryOptions registry, ImageSource source, string cid,
        string? rootfsOption, string overlayDriver, string runDir, bool child, ILogger logger, CancellationToken ct)
    {
        string run = MountState.ContainerRunDirectory(runDir, cid);
        string statePath = MountState.ContainerPath(runDir, cid);
        if (MountState.Read(statePath) is { } existing && (existing.ServerAlive() || existing.Pid == Environment.ProcessId))
            throw new InvalidOperationException($"container {cid} is already mounted at {existing.MountPoint} (pid {existing.Pid}); clipctl umount --cid {cid} first");
        string rootfs = Path.GetFullPath(rootfsOption ?? Path.Combine(run, "rootfs"));
        string containerDir = Path.Combine(registry.RootOf(parse), "containers", cid);
        string upper = Path.Combine(containerDir, "upper"), work = Path.Combine(containerDir, "work");
        foreach (var d in new[] { run, rootfs, upper, work }) Directory.CreateDirectory(d);
        if (MountInfo.MountPointsUnder(run).Count > 0 || MountInfo.IsMounted(rootfs))
            throw new InvalidOperationException($"something is still mounted for container {cid} (under {run} or at {rootfs}); clipctl umount --cid {cid} first");

        var state = new MountState(Environment.ProcessId, rootfs, containerDir, null, []);
        state.Write(statePath);
        await using var mounts = new LayerMounts(logger: logger);
        bool rootfsMounted = false;
        try
        {
            var lowers = new List<string>();
            var trees = new List<MountedTree>();
            for (int i = 0; i < source.Layers.Count; i++)
            {
                string dir = Path.Combine(run, "layers", i.ToString());
                Directory.CreateDirectory(dir);
                var layer = source.Layers[i];
                var reader = source.OpenReader(i);
                trees.Add(await mounts.MountAsync(dir, new LayerTreeFileSystem(layer, reader, source.Layers.Take(i).ToList()), $"layer {layer.Digest}",
                    new TreeMountOptions { Source = "clip:" + layer.Digest.Hex[..12] }, [reader], ct));
                lowers.Add(dir);
            }
            lowers.Reverse(); // overlayfs: the first lowerdir is the top
            string driver = await MountOverlayAsync(rootfs, lowers, upper, work, overlayDriver, ct);
            rootfsMounted = true;
            state = state with { Overlay = driver, Layers = lowers };
            state.Write(statePath);
            await console.Error.WriteLineAsync($"clipctl: container {cid}: rootfs {rootfs} ({driver} overlay over {lowers.Count} lazy layers of {source.Name}); stop with: clipctl umount --cid {cid}");
            if (child) await ReportReadyAsync(console, rootfs);
            else
            {
                await console.OutText.WriteLineAsync(rootfs);
                await console.OutText.FlushAsync(CancellationToken.None);
            }
            // Serve until asked to stop, or until a layer tree goes away under us (unmounted by someone else).
            await WaitAsync(trees.Select(t => t.Completion), ct);
            return 0;
        }
        finally
        {
            if (rootfsMounted || MountInfo.IsMounted(rootfs)) UnmountRootfs(rootfs);
            await mounts.DisposeAsync();
            if (MountState.Read(statePath)?.Pid == Environment.ProcessId) File.Delete(statePath);
        }
    }

    /// <summary>Mounts the writable rootfs; returns the driver used.</summary>
    private static async Task<string> MountOverlayAsync(string rootfs, IReadOnlyList<string> lowersTopFirst, string upper, string work, string driver, CancellationToken ct)
    {
        string options = $"lowerdir={string.Join(':', lowersTopFirst)},upperdir={upper},workdir={work}";
        if (driver is "kernel" or "auto")
        {
            try
            {
                Libc.Mount("overlay", rootfs, "overlay", 0, options);
                return "kernel";
            }
            catch (LinuxException e) when (driver == "auto")
            {
                // A user namespace or an old kernel: fuse-overlayfs does the same in user space.
                if (!ExistsOnPath("fuse-overlayfs"))
                    throw new IOException($"kernel overlayfs refused the rootfs ({e.Message}) and fuse-overlayfs is not installed (apt-get install fuse-overlayfs)", e);
            }
        }
        if (!ExistsOnPath("fuse-overlayfs")) throw new IOException("fuse-overlayfs is not installed (apt-get install fuse-overlayfs)");
        var psi = new ProcessStartInfo("fuse-overlayfs", ["-o", options + ",allow_other", rootfs]) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi) ?? throw new IOException("could not start fuse-overlayfs");
        // It forks and serves in the background once mounted; the foreground process exits.
        string error = await p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        if (p.ExitCode != 0) throw new IOException($"fuse-overlayfs failed ({p.ExitCode}): {error.Trim()}");
        return "fuse-overlayfs";
    }

    internal static void UnmountRootfs(string rootfs)
    {
        // Busy (a container still runs in it): detach; the overlay goes when its last user does.
        for (int i = 0; i < 8 && MountInfo.IsMounted(rootfs); i++)
            if (Libc.TryUnmount(rootfs, 0) != 0) Libc.TryUnmount(rootfs, Libc.MNT_DETACH);
    }

    private static bool ExistsOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, name)));

    /// <summary>Waits until any of <paramref name="ends"/> completes or <paramref name="ct"/> fires (SIGTERM, Ctrl-C).</summary>
    private static async Task WaitAsync(IEnumerable<Task> ends, CancellationToken ct)
    {
        var cancelled = Task.Delay(Timeout.Infinite, ct);
        await Task.WhenAny(ends.Append(cancelled)).ConfigureAwait(false);
    }

    /// <summary>The background child tells its parent that the mount is ready, then stops writing to the inherited pipes.</summary>
    private static async Task ReportReadyAsync(CliConsole console, string payload)
    {
        await console.OutText.WriteLineAsync($"{ReadyLine}\t{payload}");
        await console.OutText.FlushAsync(CancellationToken.None);
        await console.Out.FlushAsync(CancellationToken.None);
    }

    /// <summary>
    /// Starts this command again as a child in its own session (setsid) with <see cref="ServeChildFlag"/>, relays
    /// what it says until it reports ready (or fails), and returns without waiting for it.
    /// </summary>
    private static async Task<int> RunInBackgroundAsync(CliConsole console, IEnumerable<string> tokens, CancellationToken ct)
    {
        var childArgs = new List<string> { "mount" };
        childArgs.AddRange(tokens.Where(t => t != "--background"));
        childArgs.Add(ServeChildFlag);
        var (file, prefix) = SelfCommand();
        var psi = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        if (File.Exists("/usr/bin/setsid"))
        {
            psi.FileName = "/usr/bin/setsid";
            psi.ArgumentList.Add(file);
        }
        else
        {
            psi.FileName = file;
        }
        foreach (var a in prefix.Concat(childArgs)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new IOException($"could not start {file}");
        p.StandardInput.Close();
        var errors = new System.Text.StringBuilder();
        var stderr = Task.Run(async () =>
        {
            while (await p.StandardError.ReadLineAsync(CancellationToken.None) is { } line)
                lock (errors) errors.AppendLine(line);
        }, CancellationToken.None);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(30)); // indexing a large image first can take a while
        try
        {
            while (await p.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                if (!line.StartsWith(ReadyLine, StringComparison.Ordinal)) continue;
                await Task.Delay(50, CancellationToken.None); // let the child's "serving ..." line arrive
                string said;
                lock (errors) said = errors.ToString();
                if (said.Length > 0) await console.Error.WriteAsync(said);
                await console.Error.WriteLineAsync($"clipctl: serving in the background (pid {p.Id})");
                string payload = line[(ReadyLine.Length + 1)..];
                if (payload.Length > 0) await console.OutText.WriteLineAsync(payload);
                return 0;
            }
        }
        catch (OperationCanceledException)
        {
            try { p.Kill(); } catch (InvalidOperationException) { }
            if (ct.IsCancellationRequested) throw;
            throw new TimeoutException("the background clipctl did not report its mount ready");
        }
        await p.WaitForExitAsync(CancellationToken.None);
        await stderr;
        string output;
        lock (errors) output = errors.ToString();
        await console.Error.WriteAsync(output);
        return p.ExitCode == 0 ? 1 : p.ExitCode;
    }

    /// <summary>How to run clipctl again: the apphost next to the assembly, else the dotnet host with the assembly.</summary>
    private static (string File, IReadOnlyList<string> Prefix) SelfCommand()
    {
        string dll = typeof(MountCommand).Assembly.Location;
        string apphost = Path.Combine(Path.GetDirectoryName(dll)!, "clipctl");
        if (File.Exists(apphost)) return (apphost, []);
        string host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        return (host, [dll]);
    }
}
