using System.Diagnostics.Metrics;
using Clip.Oci;
using Clip.Registry.Auth;
using Clip.Testing;

namespace Clip.Registry.Tests;

internal static class TestClients
{
    /// <summary>Options for tests: no machine configuration, anonymous unless told, short timeouts and backoffs.</summary>
    public static RegistryClientOptions Options(ICredentialProvider? credentials = null) => new()
    {
        HostsDirectory = null,
        Credentials = credentials ?? AnonymousCredentials.Instance,
        RequestTimeout = TimeSpan.FromSeconds(5),
        Deadline = TimeSpan.FromSeconds(30),
        MaxAttempts = 4,
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        MaxRetryDelay = TimeSpan.FromMilliseconds(300),
        Platform = Platform.Parse("linux/amd64"),
    };

    public static RegistryClient Create(ICredentialProvider? credentials = null) => new(Options(credentials));
}

/// <summary>A clock tests move by hand (token expiry).</summary>
internal sealed class ManualClock : TimeProvider
{
    private DateTimeOffset _now = DateTimeOffset.UtcNow;
    public override DateTimeOffset GetUtcNow() => _now;
    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>Collects the measurements of one client's meter.</summary>
internal sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    public List<(string Instrument, long Value, Dictionary<string, string> Tags)> Measurements { get; } = [];

    public MetricsRecorder(RegistryClient client)
    {
        _listener.InstrumentPublished = (inst, l) =>
        {
            if (ReferenceEquals(inst.Meter, client.Metrics.Meter)) l.EnableMeasurementEvents(inst);
        };
        _listener.SetMeasurementEventCallback<long>((inst, value, tags, _) =>
        {
            var d = new Dictionary<string, string>();
            foreach (var t in tags) d[t.Key] = t.Value?.ToString() ?? "";
            lock (Measurements) Measurements.Add((inst.Name, value, d));
        });
        _listener.Start();
    }

    public long Sum(string instrument, params (string Key, string Value)[] tags)
    {
        lock (Measurements)
            return Measurements.Where(m => m.Instrument == instrument && tags.All(t => m.Tags.GetValueOrDefault(t.Key) == t.Value)).Sum(m => m.Value);
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>
/// A real registry holding test images pushed by skopeo: an OCI image, the same image converted to Docker v2
/// schema 2, and multi-platform indexes in both formats.
/// </summary>
public sealed class ImagesFixture : IAsyncLifetime
{
    private readonly TempDir _dir = new("clip-images");
    public RegistryServer Server { get; private set; } = null!;
    public OciLayoutBuilder Layout { get; private set; } = null!;
    public OciLayoutBuilder.Image Oci { get; private set; } = null!;
    public TestImages.Index Multi { get; private set; } = null!;

    public string Registry => Server.Address;

    public async Task InitializeAsync()
    {
        Server = await RegistryServer.StartAsync();
        Layout = new OciLayoutBuilder(_dir.Combine("layout"));
        Oci = TestImages.Simple(Layout, "oci", layerCount: 2, fileSize: 300_000);
        Multi = TestImages.MultiPlatform(Layout, "multi", ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
        await Task.WhenAll(
            Server.PushOciLayoutAsync(Layout.Directory, "oci", "test/oci", "v1"),
            Server.PushOciLayoutAsync(Layout.Directory, "oci", "test/docker", "v1", dockerFormat: true),
            Server.PushOciLayoutAsync(Layout.Directory, "multi", "test/multi", "v1", all: true),
            Server.PushOciLayoutAsync(Layout.Directory, "multi", "test/multi-docker", "v1", dockerFormat: true, all: true));
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        _dir.Dispose();
    }
}

[CollectionDefinition("images")]
public class ImagesCollection : ICollectionFixture<ImagesFixture>;

/// <summary>Records every log event of a client (all levels), to check event ids and that no secret is ever logged.</summary>
internal sealed class CapturingLoggerFactory : Microsoft.Extensions.Logging.ILoggerFactory
{
    public List<(int EventId, Microsoft.Extensions.Logging.LogLevel Level, string Message)> Events { get; } = [];

    public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider) { }

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose() { }

    public string AllText()
    {
        lock (Events) return string.Join("\n", Events.Select(e => e.Message));
    }

    private sealed class Logger(CapturingLoggerFactory owner) : Microsoft.Extensions.Logging.ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state,
            Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (owner.Events) owner.Events.Add((eventId.Id, logLevel, formatter(state, exception) + (exception is null ? "" : " " + exception)));
        }
    }
}
