namespace Clip.Testing;

/// <summary>A fresh directory under /tmp (or $CLIP_TEST_TMP), removed with everything in it on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir(string prefix = "clip-test")
    {
        string root = Environment.GetEnvironmentVariable("CLIP_TEST_TMP") ?? System.IO.Path.GetTempPath();
        Path = System.IO.Path.Combine(root, $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A mount left behind by a failed test keeps its directory busy; the failure was already reported.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    public override string ToString() => Path;
}
