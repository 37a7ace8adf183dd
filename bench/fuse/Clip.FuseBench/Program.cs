// clip-fusebench: how fast the FUSE trees serve, against the same bytes on local disk.
//
//   sudo dotnet run -c Release --project bench/fuse/Clip.FuseBench [-- WORKDIR]
//
// Needs root (mounts), dd, find, stat; the registry part needs docker-registry and skopeo.
// 1. Sequential read of a 200 MB file (dd bs=1M): local disk (page cache warm, and cold after
//    drop_caches) vs a LayerTreeFileSystem over the local gzip blob — span cache warm in a fresh mount
//    (every byte goes through FUSE READ), and page cache warm (second read in the same mount).
// 2. `find DIR -exec stat {} +` over a 10k-file tree: native copy vs the layer tree (fresh mount, then repeated).
// 3. Cold reads from a loopback docker-registry: first read of small files and of the 200 MB file's
//    first MiB through a fresh mount with an empty cache (Range GET + inflate from the checkpoint + verify).
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using Clip.Content;
using Clip.FileSystem;
using Clip.Gzip;
using Clip.Index;
using Clip.Index.Build;
using Clip.Oci;
using Clip.Registry;
using Clip.Testing;

if (!Environment.IsPrivilegedProcess)
{
    Console.Error.WriteLine("clip-fusebench mounts FUSE filesystems: run it as root");
    return 2;
}
string work = Path.GetFullPath(args.Length > 0 ? args[0] : "/var/tmp/clip-fusebench");
if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
Directory.CreateDirectory(work);
const int BigSize = 200 << 20;
const int TreeFiles = 10_000;

Console.WriteLine($"clip-fusebench: work dir {work}, {Environment.ProcessorCount} CPUs, kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}");

// ---- the image: layer A holds big.bin, layer B a 10k-file tree -------------------------------------------
var layout = new OciLayoutBuilder(Path.Combine(work, "layout"));
var rng = new Random(1);
var big = new byte[BigSize];
rng.NextBytes(big);
for (int i = 0; i < big.Length; i += 4) big[i] = (byte)(i >> 12); // a little redundancy: gzip shrinks it, still fast to inflate
var sw = Stopwatch.StartNew();
byte[] tarA = Tar(w => AddFile(w, "big.bin", big));
byte[] layerA = Gzip(tarA);
byte[] tarB = Tar(w =>
{
    for (int d = 0; d < 100; d++)
    {
        w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, $"tree/d{d:00}/") { Mode = (UnixFileMode)0x1ED });
        for (int f = 0; f < TreeFiles / 100; f++)
            AddFile(w, $"tree/d{d:00}/f{f:000}.txt", Encoding.ASCII.GetBytes(new string((char)('a' + f % 26), 100 + rng.Next(1900))));
    }
});
byte[] layerB = Gzip(tarB);
layout.AddImage("bench", [
    new OciLayoutBuilder.Layer(layerA, tarA, "application/vnd.oci.image.layer.v1.tar+gzip"),
    new OciLayoutBuilder.Layer(layerB, tarB, "application/vnd.oci.image.layer.v1.tar+gzip"),
]);
var indexA = await LayerIndexer.IndexAsync(new MemoryStream(layerA), Digest.Sha256(layerA), MediaTypes.OciLayerGzip, layerA.Length, new LayerIndexOptions());
var indexB = await LayerIndexer.IndexAsync(new MemoryStream(layerB), Digest.Sha256(layerB), MediaTypes.OciLayerGzip, layerB.Length, new LayerIndexOptions());
Console.WriteLine($"image built and indexed in {sw.Elapsed.TotalSeconds:0.0} s: layer A {layerA.Length >> 20} MiB gzip ({indexA.Checkpoints.Count} spans), layer B {layerB.Length >> 10} KiB gzip ({indexB.EntryCount} entries)");

// ---- native copies ----------------------------------------------------------------------------------------
string native = Path.Combine(work, "native");
Directory.CreateDirectory(native);
await File.WriteAllBytesAsync(Path.Combine(native, "big.bin"), big);
await Run("tar", "-xzf", layout.BlobPath(OciLayoutBuilder.Sha256(layerB)), "-C", native);
await Run("sync");

var content = new ContentOptions { CacheDirectory = Path.Combine(work, "cache"), SmallLayerThreshold = 0 };
var cache = new SpanCache(Path.Combine(content.CacheDirectory, "spans"), content.CacheMaxBytes);
LayerReader Local(LayerIndex index) => new(index, new FileRangeSource(layout.BlobPath(index.Digest.ToString())), cache, content);

async Task<MountedTree> Mount(string name, LayerIndex index, LayerReader reader)
{
    string mp = Path.Combine(work, name);
    Directory.CreateDirectory(mp);
    return await MountedTree.MountAsync(mp, new LayerTreeFileSystem(index, reader), name, owned: [reader]);
}

// ---- 1. sequential read -------------------------------------------------------------------------------------
Console.WriteLine();
Console.WriteLine("1. sequential read of a 200 MiB file, dd bs=1M (MB/s; best of 3 unless cold)");
await DropCaches();
double nativeCold = await Dd(Path.Combine(native, "big.bin"));
double nativeWarm = Best(await Dd(Path.Combine(native, "big.bin")), await Dd(Path.Combine(native, "big.bin")), await Dd(Path.Combine(native, "big.bin")));
await using (var first = await Mount("fuse-a0", indexA, Local(indexA)))
{
    sw.Restart();
    double coldFill = await Dd(Path.Combine(first.MountPoint, "big.bin")); // inflates every span from the local blob into the span cache
    Console.WriteLine($"   FUSE, first read (inflate from local blob, fill span cache): {coldFill,8:0} MB/s");
}
var spanWarm = new List<double>();
for (int i = 0; i < 3; i++)
{
    // A fresh mount has an empty page cache: every byte is a FUSE READ answered from the span cache.
    await using var m = await Mount($"fuse-a{i + 1}", indexA, Local(indexA));
    spanWarm.Add(await Dd(Path.Combine(m.MountPoint, "big.bin")));
}
double pageWarm;
await using (var m = await Mount("fuse-a9", indexA, Local(indexA)))
{
    await Dd(Path.Combine(m.MountPoint, "big.bin"));
    pageWarm = Best(await Dd(Path.Combine(m.MountPoint, "big.bin")), await Dd(Path.Combine(m.MountPoint, "big.bin")), await Dd(Path.Combine(m.MountPoint, "big.bin")));
}
Console.WriteLine($"   local disk, cold (after drop_caches):                         {nativeCold,8:0} MB/s");
Console.WriteLine($"   local disk, page cache warm:                                  {nativeWarm,8:0} MB/s");
Console.WriteLine($"   FUSE, span cache warm (fresh mount, all bytes via FUSE READ): {spanWarm.Max(),8:0} MB/s  ({spanWarm.Max() / nativeWarm:0.00}x warm disk, {spanWarm.Max() / nativeCold:0.00}x cold disk)");
Console.WriteLine($"   FUSE, page cache warm (same mount, second read):              {pageWarm,8:0} MB/s  ({pageWarm / nativeWarm:0.00}x warm disk)");

// ---- 2. metadata walk -----------------------------------------------------------------------------------------
Console.WriteLine();
Console.WriteLine($"2. find DIR -exec stat {{}} + over {TreeFiles} files in 100 dirs (seconds)");
string nativeTree = Path.Combine(native, "tree");
await FindStat(nativeTree);
double nativeFind = Best(-await FindStat(nativeTree), -await FindStat(nativeTree), -await FindStat(nativeTree)) * -1;
double fuseFirst, fuseRepeat, fuseJit;
await using (var m = await Mount("fuse-b0", indexB, Local(indexB)))
    fuseJit = await FindStat(Path.Combine(m.MountPoint, "tree")); // the server's first requests also pay for JIT compilation
await using (var m = await Mount("fuse-b", indexB, Local(indexB)))
{
    fuseFirst = await FindStat(Path.Combine(m.MountPoint, "tree"));
    fuseRepeat = -Best(-await FindStat(Path.Combine(m.MountPoint, "tree")), -await FindStat(Path.Combine(m.MountPoint, "tree")), -await FindStat(Path.Combine(m.MountPoint, "tree")));
}
await DropCaches();
double nativeFindCold = await FindStat(nativeTree);
Console.WriteLine($"   native copy, cold (drop_caches):   {nativeFindCold,6:0.000} s");
Console.WriteLine($"   native copy (dentries warm):       {nativeFind,6:0.000} s");
Console.WriteLine($"   FUSE, first mount of the process:  {fuseJit,6:0.000} s  (includes JIT of the server)");
Console.WriteLine($"   FUSE, fresh mount (all LOOKUPs):   {fuseFirst,6:0.000} s  ({fuseFirst / nativeFind:0.00}x native)");
Console.WriteLine($"   FUSE, repeated (kernel caches):    {fuseRepeat,6:0.000} s  ({fuseRepeat / nativeFind:0.00}x native)");

// ---- 3. cold reads from a loopback registry ---------------------------------------------------------------------
Console.WriteLine();
Console.WriteLine("3. cold reads from docker-registry on 127.0.0.1 (fresh mount, empty cache; open + read whole file)");
if (!RegistryServer.IsAvailable || !Proc.Exists("skopeo"))
{
    Console.WriteLine("   skipped: needs docker-registry and skopeo");
}
else
{
    await using var registry = await RegistryServer.StartAsync();
    await registry.PushOciLayoutAsync(layout.Directory, "bench", "bench/fuse", "v1");
    using var client = new RegistryClient();
    var repository = Reference.Parse($"{registry.Address}/bench/fuse:v1").RepositoryName;
    var remoteContent = content with { CacheDirectory = Path.Combine(work, "rcache") };
    var remoteCache = new SpanCache(Path.Combine(remoteContent.CacheDirectory, "spans"), remoteContent.CacheMaxBytes);
    var statsB = new ReadStatistics();
    var statsA = new ReadStatistics();
    await using var mb = await Mount("reg-b", indexB, RemoteLayers.OpenReader(client, repository, indexB, remoteCache, remoteContent, stats: statsB));
    await using var ma = await Mount("reg-a", indexA, RemoteLayers.OpenReader(client, repository, indexA, remoteCache, remoteContent, stats: statsA));
    // Warm the HTTP connection and JIT with one read in another layer's tree first.
    using (var f = File.OpenRead(Path.Combine(ma.MountPoint, "big.bin"))) _ = await f.ReadAsync(new byte[4096]);
    var small = new List<double>();
    var pick = new Random(7);
    for (int i = 0; i < 20; i++)
    {
        // Spread over the layer so that no two reads share a span (each is a true cold read).
        string path = Path.Combine(mb.MountPoint, "tree", $"d{i * 5:00}", $"f{pick.Next(100):000}.txt");
        var t = Stopwatch.StartNew();
        _ = await File.ReadAllBytesAsync(path);
        small.Add(t.Elapsed.TotalMilliseconds);
    }
    small.Sort();
    var tb = Stopwatch.StartNew();
    using (var f = File.OpenRead(Path.Combine(ma.MountPoint, "big.bin")))
    {
        f.Seek(100 << 20, SeekOrigin.Begin);
        var buf = new byte[1 << 20];
        int got = 0;
        while (got < buf.Length)
        {
            int n = await f.ReadAsync(buf.AsMemory(got));
            if (n == 0) break;
            got += n;
        }
    }
    double bigFirst = tb.Elapsed.TotalMilliseconds;
    Console.WriteLine($"   small file (100 B - 2 KB), 20 files:  median {small[small.Count / 2]:0.0} ms, p95 {small[(int)(small.Count * 0.95)]:0.0} ms, max {small[^1]:0.0} ms; " +
        $"fetched {statsB.FetchedBytes / 1024} KiB in {statsB.Fetches} range GETs (layer {layerB.Length / 1024} KiB)");
    Console.WriteLine($"   1 MiB at 100 MiB into the big file:     {bigFirst:0.0} ms; fetched {statsA.FetchedBytes / 1024} KiB in {statsA.Fetches} range GETs");
}
Directory.Delete(work, recursive: true);
return 0;

static byte[] Tar(Action<TarWriter> write)
{
    var ms = new MemoryStream();
    using (var w = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true)) write(w);
    return ms.ToArray();
}

static void AddFile(TarWriter w, string name, byte[] data) =>
    w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1A4, DataStream = new MemoryStream(data) });

static byte[] Gzip(byte[] data)
{
    var ms = new MemoryStream();
    // Not Fastest: zlib-ng's level 1 (deflate_quick) writes the whole stream as one deflate block, leaving no
    // block boundary for a checkpoint (one 200 MiB span). Default levels cut blocks as gzip(1) and Go do.
    using (var gz = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(data);
    return ms.ToArray();
}

static double Best(params double[] values) => values.Max();

static async Task DropCaches()
{
    await Run("sync");
    await File.WriteAllTextAsync("/proc/sys/vm/drop_caches", "3");
}

static async Task<double> Dd(string file)
{
    var r = await Proc.RunAsync("dd", [$"if={file}", "of=/dev/null", "bs=1M"], TimeSpan.FromMinutes(5));
    r.EnsureSuccess("dd");
    // "209715200 bytes (210 MB, 200 MiB) copied, 0.0432 s, 4.9 GB/s"
    var m = Regex.Match(r.StdErr, @"^(\d+) bytes .* copied, ([\d.,]+) s", RegexOptions.Multiline);
    if (!m.Success) throw new InvalidOperationException($"dd said: {r.StdErr}");
    return long.Parse(m.Groups[1].Value) / double.Parse(m.Groups[2].Value.Replace(',', '.'), System.Globalization.CultureInfo.InvariantCulture) / 1e6;
}

static async Task<double> FindStat(string dir)
{
    var t = Stopwatch.StartNew();
    var r = await Proc.RunAsync("sh", ["-c", $"find '{dir}' -exec stat {{}} + > /dev/null"], TimeSpan.FromMinutes(5));
    r.EnsureSuccess("find -exec stat");
    return t.Elapsed.TotalSeconds;
}

static async Task Run(string file, params string[] args) => (await Proc.RunAsync(file, args, TimeSpan.FromMinutes(5))).EnsureSuccess(file);
