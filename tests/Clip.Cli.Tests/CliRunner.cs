using System.Text;

namespace Clip.Cli.Tests;

/// <summary>Runs clipctl in-process with captured stdout (bytes) and stderr.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, byte[] Stdout, string Stderr)
    {
        public string Text => Encoding.UTF8.GetString(Stdout);
    }

    public static async Task<Result> RunAsync(params string[] args)
    {
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        int rc = await ClipCtl.RunAsync(args, new CliConsole(stdout, stderr, interactive: false));
        return new Result(rc, stdout.ToArray(), stderr.ToString());
    }
}
