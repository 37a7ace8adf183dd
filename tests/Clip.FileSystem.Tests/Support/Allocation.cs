namespace Clip.FileSystem.Tests.Support;

/// <summary>Asserts that an action allocates nothing on the managed heap once the runtime has tiered it up.</summary>
public static class Allocation
{
    public static void AssertNone(Action action)
    {
        // The JIT allocates now and then while it tiers methods up (a one-time cost): wait for three quiet rounds.
        int quiet = 0, rounds = 0;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (quiet < 3 && DateTime.UtcNow < deadline)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 2000; i++) action();
            quiet = GC.GetAllocatedBytesForCurrentThread() == before ? quiet + 1 : 0;
            rounds++;
        }
        Assert.True(quiet == 3, $"no three allocation-free rounds of 2000 calls in {rounds} rounds");
    }
}
