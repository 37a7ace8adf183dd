using System.Globalization;

namespace Clip.NetBench.Measure;

/// <summary>The Prometheus text exposition format, read just far enough to take counter deltas.</summary>
public static class PrometheusText
{
    /// <summary>Every sample as "name{labels}" → value; comment lines skipped.</summary>
    public static Dictionary<string, double> Parse(string text)
    {
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            // name{a="b c"} value [timestamp]: the series ends at the closing brace, or the first space.
            int close = line.IndexOf('}');
            int split = close >= 0 ? close + 1 : line.IndexOf(' ');
            if (split <= 0 || split >= line.Length) continue;
            string series = line[..split];
            var rest = line[split..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (rest.Length == 0) continue;
            if (double.TryParse(rest[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) samples[series] = v;
        }
        return samples;
    }

    public static string NameOf(string series)
    {
        int brace = series.IndexOf('{');
        return brace < 0 ? series : series[..brace];
    }

    /// <summary>after − before for every series of <paramref name="after"/> whose name starts with <paramref name="prefix"/>.</summary>
    public static Dictionary<string, double> Delta(Dictionary<string, double>? before, Dictionary<string, double> after, string prefix)
    {
        var d = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (k, v) in after)
            if (k.StartsWith(prefix, StringComparison.Ordinal)) d[k] = v - (before?.GetValueOrDefault(k) ?? 0);
        return d;
    }

    /// <summary>Sums series by metric name (labels dropped).</summary>
    public static Dictionary<string, double> ByName(Dictionary<string, double> series)
    {
        var d = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (k, v) in series)
        {
            string name = NameOf(k);
            if (name.EndsWith("_bucket", StringComparison.Ordinal)) continue;
            d[name] = d.GetValueOrDefault(name) + v;
        }
        return d;
    }
}
