using System.Diagnostics;

namespace Clip.Snapshots;

/// <summary>
/// Named points between the steps of a change (database, directories, remote mounts). When the
/// environment variable <c>CLIP_SNAPSHOTTER_CRASH_POINT</c> names one, the process kills itself
/// with SIGKILL on reaching it: the crash-safety tests use this to stop the daemon exactly between
/// two steps, with no cleanup code running, and then check what a restart finds.
/// </summary>
public static class CrashPoints
{
    public const string EnvironmentVariable = "CLIP_SNAPSHOTTER_CRASH_POINT";

    public const string CreateAfterTempDir = "create.after-temp-dir";
    public const string CreateAfterRename = "create.after-rename";
    public const string CreateAfterDbCommit = "create.after-db-commit";
    public const string CommitBeforeDbCommit = "commit.before-db-commit";
    public const string CommitAfterDbCommit = "commit.after-db-commit";
    public const string RemoveAfterDbCommit = "remove.after-db-commit";
    public const string RemoveDuringDirDelete = "remove.during-dir-delete";
    public const string RemoteAfterMount = "remote.after-mount";

    /// <summary>Every point, for tests to iterate.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        CreateAfterTempDir, CreateAfterRename, CreateAfterDbCommit, CommitBeforeDbCommit, CommitAfterDbCommit,
        RemoveAfterDbCommit, RemoveDuringDirDelete, RemoteAfterMount,
    ];

    private static readonly string? Armed = Environment.GetEnvironmentVariable(EnvironmentVariable);

    internal static void Hit(string point)
    {
        if (Armed is not null && Armed == point)
        {
            Console.Error.WriteLine($"clip-snapshotter: crash point {point} reached, killing the process");
            Console.Error.Flush();
            Process.GetCurrentProcess().Kill();
            Thread.Sleep(Timeout.Infinite);
        }
    }
}
