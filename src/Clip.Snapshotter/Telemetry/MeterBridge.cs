using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Prometheus;

namespace Clip.Snapshotter.Telemetry;

/// <summary>
/// Exports the System.Diagnostics.Metrics instruments of clip's libraries (meters "Clip.Content",
/// "Clip.Registry", "Clip.FileSystem") into the daemon's Prometheus registry. Names are derived
/// mechanically — dots become underscores, counters end in <c>_total</c>, byte units in
/// <c>_bytes</c> — and tags become labels; the libraries only use tags from fixed sets.
/// </summary>
public sealed class MeterBridge : IDisposable
{
    public static readonly string[] Meters = ["Clip.Content", "Clip.Registry", "Clip.FileSystem"];

    private readonly MeterListener _listener = new();
    private readonly IMetricFactory _factory;
    private readonly ConcurrentDictionary<Instrument, Sink> _sinks = new();
    private readonly Lock _createLock = new();

    private delegate void Sink(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags);

    public MeterBridge(CollectorRegistry registry)
    {
        _factory = Prometheus.Metrics.WithCustomRegistry(registry);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!Meters.Contains(instrument.Meter.Name) || !IsSupported(instrument)) return;
            listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
        // Observable instruments (gauges) are sampled when Prometheus scrapes.
        registry.AddBeforeCollectCallback(() => _listener.RecordObservableInstruments());
    }

    /// <summary>The Prometheus name for an instrument, e.g. clip.content.fetched_bytes (unit By) → clip_content_fetched_bytes_total.</summary>
    public static string PrometheusName(Instrument instrument)
    {
        string name = instrument.Name.Replace('.', '_').Replace('-', '_');
        if (instrument.Unit == "By" && !name.EndsWith("_bytes", StringComparison.Ordinal)) name += "_bytes";
        if (instrument.Unit == "s" && !name.EndsWith("_seconds", StringComparison.Ordinal)) name += "_seconds";
        if (instrument is Counter<long> or Counter<int> or Counter<double> or ObservableCounter<long> or ObservableCounter<double>) name += "_total";
        return name;
    }

    private static bool IsSupported(Instrument i) => i is Counter<long> or Counter<int> or Counter<double> or ObservableCounter<long> or ObservableCounter<double>
        or Histogram<double> or Histogram<long> or ObservableGauge<long> or ObservableGauge<double> or ObservableUpDownCounter<long> or UpDownCounter<long>;

    /// <summary>Creates the Prometheus collector on the first measurement, with that measurement's tag keys as label names.</summary>
    private Sink CreateSink(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> firstTags)
    {
        string name = PrometheusName(instrument);
        string help = instrument.Description ?? instrument.Name;
        var keys = new List<string>();
        foreach (var t in firstTags) keys.Add(t.Key);
        keys.Sort(StringComparer.Ordinal);
        string[] labels = [.. keys];
        switch (instrument)
        {
            case Histogram<double> or Histogram<long>:
            {
                var histogram = _factory.CreateHistogram(name, help, new HistogramConfiguration
                {
                    LabelNames = labels,
                    Buckets = instrument.Unit == "s" ? Histogram.ExponentialBuckets(0.00005, 4, 12) : Histogram.ExponentialBuckets(1024, 4, 12),
                });
                return (v, tags) => histogram.WithLabels(LabelValues(labels, tags)).Observe(v);
            }
            case ObservableGauge<long> or ObservableGauge<double> or ObservableUpDownCounter<long> or UpDownCounter<long>:
            {
                var gauge = _factory.CreateGauge(name, help, new GaugeConfiguration { LabelNames = labels });
                bool observable = instrument.IsObservable;
                return (v, tags) =>
                {
                    var child = gauge.WithLabels(LabelValues(labels, tags));
                    if (observable) child.Set(v);
                    else child.Inc(v);
                };
            }
            default:
            {
                var counter = _factory.CreateCounter(name, help, new CounterConfiguration { LabelNames = labels });
                bool observable = instrument.IsObservable;
                return (v, tags) =>
                {
                    var child = counter.WithLabels(LabelValues(labels, tags));
                    if (observable) child.IncTo(v);
                    else child.Inc(v);
                };
            }
        }
    }

    private static string[] LabelValues(string[] names, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (names.Length == 0) return [];
        var values = new string[names.Length];
        for (int i = 0; i < names.Length; i++)
        {
            values[i] = "";
            foreach (var t in tags) // unknown keys are dropped: label sets stay what the first measurement declared
                if (t.Key == names[i]) values[i] = t.Value?.ToString() ?? "";
        }
        return values;
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (!_sinks.TryGetValue(instrument, out var sink))
        {
            lock (_createLock)
            {
                if (!_sinks.TryGetValue(instrument, out sink))
                {
                    sink = CreateSink(instrument, tags);
                    _sinks[instrument] = sink;
                }
            }
        }
        sink(value, tags);
    }

    public void Dispose() => _listener.Dispose();
}
