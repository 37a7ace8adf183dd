using Clip.Testing;

namespace Clip.Snapshotter.Tests.Support;

/// <summary>
/// Builds tests/e2e/pullunpack (Go, GOPATH mode against Debian's containerd 1.6 sources, like the
/// conformance suite) once per test run: a containerd client that pulls with WithPullUnpack.
/// </summary>
public static class PullUnpackTool
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static string? _binary;

    public static async Task<string> BinaryAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_binary is not null && File.Exists(_binary)) return _binary;
            if (!Proc.Exists("go")) throw new InvalidOperationException("go not found: apt-get install -y golang-go golang-github-containerd-containerd-dev");
            string repo = AppContext.BaseDirectory;
            while (!File.Exists(Path.Combine(repo, "Clip.sln"))) repo = Path.GetDirectoryName(repo) ?? throw new InvalidOperationException("repository root not found");
            string work = Path.Combine(Path.GetTempPath(), $"clip-pullunpack-{Environment.ProcessId}");
            string pkg = Path.Combine(work, "gopath", "src", "clip.local", "pullunpack");
            Directory.CreateDirectory(pkg);
            File.Copy(Path.Combine(repo, "tests", "e2e", "pullunpack", "main.go"), Path.Combine(pkg, "main.go"), overwrite: true);
            string output = Path.Combine(work, "pullunpack");
            var env = new Dictionary<string, string>
            {
                ["GO111MODULE"] = "off", ["GOPATH"] = $"{Path.Combine(work, "gopath")}:/usr/share/gocode", ["GOCACHE"] = Path.Combine(work, "gocache"),
                ["GOFLAGS"] = "-mod=", ["GOPROXY"] = "off", ["HOME"] = work,
            };
            (await Proc.RunAsync("go", ["build", "-o", output, "."], TimeSpan.FromMinutes(10), env: env, workingDirectory: pkg)).EnsureSuccess("go build pullunpack");
            return _binary = output;
        }
        finally
        {
            Gate.Release();
        }
    }
}
