using Clip.Fuse.Tests.Support;
using Clip.Testing;

namespace Clip.Fuse.Tests.Mount;

/// <summary>Counts the process's /dev/fuse descriptors, so it runs alone: other tests mount and unmount in parallel.</summary>
[CollectionDefinition(nameof(DescriptorTests), DisableParallelization = true)]
public sealed class DescriptorTestsCollection;

[Collection(nameof(DescriptorTests))]
public class DescriptorTests
{
    [RootFact]
    public async Task Each_worker_reads_its_own_cloned_dev_fuse_descriptor()
    {
        static int FuseDescriptors() => new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos()
            .Count(f => f.LinkTarget == "/dev/fuse");
        int before = FuseDescriptors();
        await using var m = await Mounted.StartAsync(MountTests.Tree(), options: new FuseServerOptions { WorkerCount = 3 });
        Assert.Equal(before + 3, FuseDescriptors());
    }
}
