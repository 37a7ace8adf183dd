using Clip.Snapshots;
using CoreSnapshotter = Clip.Snapshots.Snapshotter;
using Grpc.Core;
using Prometheus;

namespace Clip.Snapshotter.Grpc;

/// <summary>
/// Prometheus metrics of one daemon, in their own registry. Label values come from fixed sets
/// (method names of the service, gRPC codes, snapshot kinds, outcomes); never a key, digest or path.
/// </summary>
public sealed class SnapshotterMetrics
{
    private readonly Counter _calls;
    private readonly Histogram _duration;
    private readonly Gauge _snapshots;
    private readonly Gauge _remoteLayers;
    private readonly Counter _remotePrepares;

    public SnapshotterMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        _calls = factory.CreateCounter("clip_snapshotter_grpc_requests_total", "Snapshots gRPC calls by method and status code.", "method", "code");
        _duration = factory.CreateHistogram("clip_snapshotter_grpc_request_duration_seconds", "Duration of Snapshots gRPC calls.",
            new HistogramConfiguration { LabelNames = ["method"], Buckets = Histogram.ExponentialBuckets(0.0005, 4, 10) });
        _snapshots = factory.CreateGauge("clip_snapshotter_snapshots", "Snapshots by kind.", "kind");
        _remoteLayers = factory.CreateGauge("clip_snapshotter_remote_layers", "Lazily served layers by state.", "state");
        _remotePrepares = factory.CreateCounter("clip_snapshotter_remote_prepares_total",
            "Prepares with a target: served lazily, not servable (fallback) or failed (fallback); restores.", "outcome");
    }

    public CollectorRegistry Registry { get; }

    public void RecordCall(string method, StatusCode code, TimeSpan elapsed)
    {
        _calls.WithLabels(method, code.ToString()).Inc();
        _duration.WithLabels(method).Observe(elapsed.TotalSeconds);
    }

    /// <summary>Refreshes the gauges from the snapshotter before every scrape.</summary>
    public void Attach(CoreSnapshotter snapshotter)
    {
        Registry.AddBeforeCollectCallback(() =>
        {
            var (kinds, mounted, unavailable) = snapshotter.Counts();
            foreach (var kind in new[] { SnapshotKind.Active, SnapshotKind.View, SnapshotKind.Committed })
                _snapshots.WithLabels(kind.ToFilterValue()).Set(kinds.GetValueOrDefault(kind));
            _remoteLayers.WithLabels("mounted").Set(mounted);
            _remoteLayers.WithLabels("unavailable").Set(unavailable);
            var s = snapshotter.RemoteStatistics;
            _remotePrepares.WithLabels("served").IncTo(s.Served);
            _remotePrepares.WithLabels("not_servable").IncTo(s.NotServable);
            _remotePrepares.WithLabels("failed").IncTo(s.Failed);
            _remotePrepares.WithLabels("restored").IncTo(s.Restored);
            _remotePrepares.WithLabels("restore_failed").IncTo(s.RestoreFailed);
        });
    }
}
