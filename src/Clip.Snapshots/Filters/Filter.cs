using System.Text.RegularExpressions;

namespace Clip.Snapshots.Filters;

/// <summary>Gives a filter the value of a field path (containerd filters.Adaptor).</summary>
public interface IFieldAdaptor
{
    /// <summary>The value at <paramref name="fieldPath"/>, or false when the object has no such field.</summary>
    bool TryGetField(IReadOnlyList<string> fieldPath, out string value);
}

/// <summary>A parsed containerd filter: selectors joined by "and", or several such joined by "or".</summary>
public abstract class Filter
{
    public abstract bool Match(IFieldAdaptor adaptor);

    /// <summary>Matches everything (the empty filter).</summary>
    public static Filter Always { get; } = new AlwaysFilter();

    private sealed class AlwaysFilter : Filter
    {
        public override bool Match(IFieldAdaptor adaptor) => true;
        public override string ToString() => "*";
    }
}

/// <summary>The selector operators; containerd spells them "==", "!=", "~=" or nothing (presence).</summary>
public enum FilterOperator
{
    Present,
    Equal,
    NotEqual,
    Matches,
}

/// <summary><c>fieldpath[op value]</c>.</summary>
public sealed class Selector : Filter
{
    private readonly Regex? _regex;

    internal Selector(IReadOnlyList<string> fieldPath, FilterOperator op, string value, Regex? regex)
    {
        FieldPath = fieldPath;
        Operator = op;
        Value = value;
        _regex = regex;
    }

    public IReadOnlyList<string> FieldPath { get; }
    public FilterOperator Operator { get; }
    public string Value { get; }

    public override bool Match(IFieldAdaptor adaptor)
    {
        bool present = adaptor.TryGetField(FieldPath, out string value);
        return Operator switch
        {
            FilterOperator.Present => present,
            FilterOperator.Equal => present && value == Value,
            // containerd: a missing field compares as "" (so parent!="" matches snapshots with a parent).
            FilterOperator.NotEqual => (present ? value : "") != Value,
            FilterOperator.Matches => _regex!.IsMatch(present ? value : ""),
            _ => false,
        };
    }

    public override string ToString() => string.Join('.', FieldPath) + Operator switch
    {
        FilterOperator.Equal => "==" + Value,
        FilterOperator.NotEqual => "!=" + Value,
        FilterOperator.Matches => "~=" + Value,
        _ => "",
    };
}

/// <summary>Matches when every part matches (selectors joined by <c>,</c>).</summary>
public sealed class AllFilter(IReadOnlyList<Filter> parts) : Filter
{
    public IReadOnlyList<Filter> Parts { get; } = parts;
    public override bool Match(IFieldAdaptor adaptor) => Parts.All(p => p.Match(adaptor));
    public override string ToString() => string.Join(',', Parts);
}

/// <summary>Matches when any part matches (several filter strings in one request).</summary>
public sealed class AnyFilter(IReadOnlyList<Filter> parts) : Filter
{
    public IReadOnlyList<Filter> Parts { get; } = parts;
    public override bool Match(IFieldAdaptor adaptor) => Parts.Any(p => p.Match(adaptor));
    public override string ToString() => string.Join(" | ", Parts);
}
