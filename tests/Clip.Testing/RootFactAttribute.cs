namespace Clip.Testing;

/// <summary>
/// A fact that needs root (mounts, FUSE, containerd). It is skipped only when the process is not
/// privileged AND CLIP_REQUIRE_PRIVILEGED_TESTS is unset; CI sets that variable, so there it runs
/// (and fails loudly if CI ever loses root).
/// </summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess && Environment.GetEnvironmentVariable("CLIP_REQUIRE_PRIVILEGED_TESTS") != "1")
            Skip = "needs root (CI runs it: set CLIP_REQUIRE_PRIVILEGED_TESTS=1 to force)";
    }
}

/// <summary>The theory form of <see cref="RootFactAttribute"/>.</summary>
public sealed class RootTheoryAttribute : TheoryAttribute
{
    public RootTheoryAttribute()
    {
        if (!Environment.IsPrivilegedProcess && Environment.GetEnvironmentVariable("CLIP_REQUIRE_PRIVILEGED_TESTS") != "1")
            Skip = "needs root (CI runs it: set CLIP_REQUIRE_PRIVILEGED_TESTS=1 to force)";
    }
}
