using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Clip.NetBench.Lazy;

/// <summary>The CNCF distribution registry (Debian's docker-registry) on 127.0.0.1, storage in a given directory; stopped on dispose.</summary>
public sealed class LocalRegistry : IAsyncDisposable
{
    private readonly Process _process;

    private LocalRegistry(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }
    public IPEndPoint Endpoint => new(IPAddress.Loopback, Port);

    public static async Task<LocalRegistry> StartAsync(string directory)
    {
        int port = FreePort();
        Directory.CreateDirectory(Path.Combine(directory, "storage"));
        string config = Path.Combine(directory, "registry.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {Path.Combine(directory, "storage")}
            http:
              addr: 127.0.0.1:{port}
            """);
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"exec docker-registry serve \"$0\" >>\"$1\" 2>&1");
        psi.ArgumentList.Add(config);
        psi.ArgumentList.Add(Path.Combine(directory, "registry.log"));
        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start docker-registry (apt-get install -y docker-registry)");
        var registry = new LocalRegistry(p, port);
        for (int i = 0; i < 200; i++)
        {
            if (p.HasExited) throw new InvalidOperationException($"docker-registry exited {p.ExitCode}: {await File.ReadAllTextAsync(Path.Combine(directory, "registry.log"))}");
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, port);
                return registry;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        await registry.DisposeAsync();
        throw new TimeoutException($"docker-registry did not listen on 127.0.0.1:{port}");
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(); // SIGKILL to exactly the registry we started (sh exec'ed into it)
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
