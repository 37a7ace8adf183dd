using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Clip.Testing;

namespace Clip.Cli.Tests;

public class MetricsCommandTests
{
    private const string Exposition = """
        # HELP clip_content_fetched_bytes_total Compressed bytes fetched
        # TYPE clip_content_fetched_bytes_total counter
        clip_content_fetched_bytes_total 12345
        clip_snapshotter_snapshots{kind="committed"} 4
        process_cpu_seconds_total 1.5

        """;

    private static (HttpListener Listener, string Address) Serve()
    {
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0)) { l.Start(); port = ((IPEndPoint)l.LocalEndpoint).Port; }
        var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        _ = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext ctx;
                try { ctx = await listener.GetContextAsync(); } catch (Exception) { return; }
                var body = Encoding.UTF8.GetBytes(ctx.Request.Url!.AbsolutePath == "/metrics" ? Exposition : "");
                ctx.Response.StatusCode = ctx.Request.Url.AbsolutePath == "/metrics" ? 200 : 404;
                await ctx.Response.OutputStream.WriteAsync(body);
                ctx.Response.Close();
            }
        });
        return (listener, $"127.0.0.1:{port}");
    }

    [Fact]
    public async Task Metrics_prints_the_clip_series_as_text_or_json()
    {
        var (listener, address) = Serve();
        using (listener)
        {
            var text = await CliRunner.RunAsync("metrics", "--address", address);
            Assert.True(text.ExitCode == 0, text.Stderr);
            Assert.Contains("clip_content_fetched_bytes_total 12345", text.Text);
            Assert.DoesNotContain("process_cpu_seconds_total", text.Text);

            var json = await CliRunner.RunAsync("metrics", "--address", address, "--format", "json");
            var doc = JsonDocument.Parse(json.Text).RootElement;
            Assert.Equal(12345, doc.GetProperty("clip_content_fetched_bytes_total").GetDouble());
            Assert.Equal(4, doc.GetProperty("clip_snapshotter_snapshots{kind=\"committed\"}").GetDouble());
        }
    }

    [Fact]
    public async Task Metrics_reads_the_address_from_the_config_and_says_when_there_is_none()
    {
        using var dir = new TempDir();
        var (listener, address) = Serve();
        using (listener)
        {
            File.WriteAllText(dir.Combine("config.toml"), $"metrics_address = \"{address}\"\n");
            var ok = await CliRunner.RunAsync("metrics", "--config", dir.Combine("config.toml"));
            Assert.True(ok.ExitCode == 0, ok.Stderr);
            Assert.Contains("clip_content_fetched_bytes_total", ok.Text);
        }
        File.WriteAllText(dir.Combine("none.toml"), "root_dir = \"/var/lib/clip\"\n");
        var none = await CliRunner.RunAsync("metrics", "--config", dir.Combine("none.toml"));
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("no metrics_address", none.Stderr);
    }
}
