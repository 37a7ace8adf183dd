using System.CommandLine;
using Clip.Gzip;
using Clip.Index.Format;
using Clip.Index.Tar;
using Clip.Oci;

namespace Clip.Cli;

/// <summary>The clipctl command tree. Every command reports failures as one line on stderr and a non-zero exit code.</summary>
public static class ClipCtl
{
    public static async Task<int> RunAsync(string[] args, CliConsole console, CancellationToken cancellationToken = default)
    {
        var root = new RootCommand("clipctl: index, inspect, read and mount OCI images lazily (clip)");
        root.Subcommands.Add(IndexCommand.Create(console));
        root.Subcommands.Add(InspectCommand.Create(console));
        root.Subcommands.Add(CatCommand.Create(console));
        root.Subcommands.Add(MountCommand.Create(console));
        root.Subcommands.Add(UmountCommand.Create(console));
        root.Subcommands.Add(MetricsCommand.Create(console));
        root.Subcommands.Add(CacheCommand.Create(console));
        var config = new InvocationConfiguration { Output = console.OutText, Error = console.Error };
        try
        {
            int rc = await root.Parse(args).InvokeAsync(config, cancellationToken).ConfigureAwait(false);
            return rc;
        }
        finally
        {
            await console.OutText.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            await console.Out.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Runs a command body, turning the failures users can cause into a clear message and exit code 1.</summary>
    internal static async Task<int> Guard(CliConsole console, Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await console.Error.WriteLineAsync("clipctl: interrupted").ConfigureAwait(false);
            return 130;
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            await console.OutText.FlushAsync().ConfigureAwait(false);
            await console.Error.WriteLineAsync($"clipctl: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    private static bool IsUserFacing(Exception e) => e is IOException or InvalidDataException or FormatException
        or KeyNotFoundException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or NotSupportedException
        or IndexFormatException or GzipFormatException or TarFormatException or DigestMismatchException;
}
