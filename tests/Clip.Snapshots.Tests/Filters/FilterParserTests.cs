using Clip.Snapshots.Filters;

namespace Clip.Snapshots.Tests.Filters;

/// <summary>The containerd filter language, case by case (containerd filters/filter_test.go is the reference).</summary>
public class FilterParserTests
{
    private sealed class Obj(Dictionary<string, string> fields, Dictionary<string, string>? labels = null) : IFieldAdaptor
    {
        public bool TryGetField(IReadOnlyList<string> path, out string value)
        {
            value = "";
            if (path[0] == "labels")
            {
                if (labels is null || labels.Count == 0) return false;
                if (!labels.TryGetValue(string.Join('.', path.Skip(1)), out var v)) return false;
                value = v;
                return true;
            }
            if (!fields.TryGetValue(path[0], out var f)) return false;
            value = f;
            return true;
        }
    }

    private static readonly Obj Active = new(new() { ["name"] = "a-wl", ["kind"] = "active", ["parent"] = "p-wl" },
        new() { ["l"] = "2", ["containerd.io/gc.root"] = "check-walk", ["a.b"] = "dotted" });
    private static readonly Obj Committed = new(new() { ["name"] = "p", ["kind"] = "committed", ["parent"] = "" });

    [Theory]
    [InlineData("name==a-wl", true, false)]
    [InlineData("name!=a-wl", false, true)]
    [InlineData("kind==active,labels.l", true, false)]
    [InlineData("kind==committed,labels.l", false, false)]
    [InlineData("labels.l==2", true, false)]
    [InlineData("labels.\"containerd.io/gc.root\"==check-walk", true, false)]
    [InlineData("labels.a.b==dotted", true, false)]
    [InlineData("labels.\"a.b\"", true, false)]
    [InlineData("parent!=\"\"", true, false)]
    [InlineData("parent==\"\"", false, true)]
    [InlineData("name~=^a-", true, false)]
    [InlineData("name~=/^[ap]$/", false, true)]
    [InlineData("name~=|w|", true, false)]
    [InlineData("labels.missing", false, false)]
    [InlineData("labels.missing!=x", true, true)]
    [InlineData("", true, true)]
    [InlineData("name==a-wl, kind==active", true, false)]
    public void Selector_matches_like_containerd(string filter, bool matchesActive, bool matchesCommitted)
    {
        var f = FilterParser.Parse(filter);
        Assert.Equal(matchesActive, f.Match(Active));
        Assert.Equal(matchesCommitted, f.Match(Committed));
    }

    [Fact]
    public void Several_filter_strings_are_alternatives()
    {
        var f = FilterParser.ParseAll(["name==p", "name==a-wl"]);
        Assert.True(f.Match(Active));
        Assert.True(f.Match(Committed));
        Assert.True(FilterParser.ParseAll([]).Match(Active));
    }

    [Fact]
    public void Unquoted_value_runs_to_comma_or_space_and_may_hold_colons_and_dots()
    {
        // containerd's metadata layer sends this exact shape: an unquoted digest after "==".
        var f = (AllFilter)FilterParser.Parse("labels.\"containerd.io/snapshot.ref\"==sha256:abc.def,parent==\"\"");
        var sel = (Selector)f.Parts[0];
        Assert.Equal(["labels", "containerd.io/snapshot.ref"], sel.FieldPath);
        Assert.Equal(FilterOperator.Equal, sel.Operator);
        Assert.Equal("sha256:abc.def", sel.Value);
    }

    [Fact]
    public void Quoted_strings_unescape_like_go()
    {
        var sel = (Selector)FilterParser.Parse("labels.\"x\"==\"tab\\there \\u00e9 \\x41 \\101\"");
        Assert.Equal("tab\there é A A", sel.Value);
        var re = (Selector)FilterParser.Parse("name~=/a\\/b/");
        Assert.Equal("a/b", re.Value);
    }

    [Theory]
    [InlineData("name==")]                 // value missing
    [InlineData("name=")]                  // not an operator
    [InlineData("name=~x")]                // unsupported operator
    [InlineData("==x")]                    // field missing
    [InlineData("name==a b")]              // space inside an unquoted value
    [InlineData("name==\"open")]           // unterminated quote
    [InlineData("name==/re/")]             // alternative quotes only for ~=
    [InlineData("labels.\"\\q\"")]         // illegal escape
    [InlineData("name~=/(/")]              // bad regular expression
    [InlineData("name==a,")]               // dangling separator
    [InlineData("a.")]                     // dangling field separator
    public void Malformed_filters_are_refused(string filter)
    {
        Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(filter));
        var e = Assert.Throws<SnapshotInvalidArgumentException>(() => FilterParser.ParseAll([filter]));
        Assert.Contains(filter, e.Message);
    }
}
