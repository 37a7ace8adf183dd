namespace Clip.Index;

/// <summary>Writes files so that a crash leaves either the old file or the complete new one: temp file, fsync, rename, fsync of the directory.</summary>
public static class DurableFile
{
    public static void Write(string path, ReadOnlySpan<byte> data)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                fs.Write(data);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
            SyncDirectory(dir);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Makes a rename in <paramref name="dir"/> durable.</summary>
    public static void SyncDirectory(string dir)
    {
        try
        {
            using var handle = File.OpenHandle(dir, FileMode.Open, FileAccess.Read);
            RandomAccess.FlushToDisk(handle);
        }
        catch (UnauthorizedAccessException) { }
        catch (IOException) { }
    }
}
