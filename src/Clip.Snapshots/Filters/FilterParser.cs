using System.Text.RegularExpressions;

namespace Clip.Snapshots.Filters;

/// <summary>A filter string that does not follow the grammar; the message shows where.</summary>
public sealed class FilterSyntaxException(string message) : FormatException(message);

/// <summary>
/// Parses containerd's filter language (containerd filters/parser.go, unchanged from v1.6 to v2.2):
/// <code>
/// selectors := selector ("," selector)*
/// selector  := fieldpath (operator value)?
/// fieldpath := field ('.' field)*
/// field     := quoted | [A-Za-z0-9_]+
/// operator  := "==" | "!=" | "~="
/// value     := quoted | [^\s,]+
/// quoted    := Go string syntax; for "~=" also /regex/ and |regex|
/// </code>
/// Several strings in one request are alternatives ("or"). Regular expressions are compiled at
/// parse time (Go's RE2 dialect is matched by .NET's non-backtracking engine for the constructs
/// they share); containerd compiles them lazily and treats a bad one as "matches nothing", clip
/// rejects it up front as an invalid argument.
/// </summary>
public static class FilterParser
{
    /// <summary>Parses one filter string; the empty string matches everything.</summary>
    public static Filter Parse(string input)
    {
        if (input.Length == 0) return Filter.Always;
        return new Parser(input).Selectors();
    }

    /// <summary>Parses the filters of a List request: any of them may match; none means all.</summary>
    /// <exception cref="SnapshotInvalidArgumentException">One of the strings is malformed.</exception>
    public static Filter ParseAll(IReadOnlyList<string> filters)
    {
        if (filters.Count == 0) return Filter.Always;
        var parts = new List<Filter>(filters.Count);
        foreach (string f in filters)
        {
            try
            {
                parts.Add(Parse(f));
            }
            catch (FilterSyntaxException e)
            {
                throw new SnapshotInvalidArgumentException($"filter {f}: {e.Message}", e);
            }
        }
        return parts.Count == 1 ? parts[0] : new AnyFilter(parts);
    }

    private sealed class Parser(string input)
    {
        private readonly FilterScanner _scanner = new(input);

        public Filter Selectors()
        {
            var selectors = new List<Filter> { Selector() };
            while (true)
            {
                int next = _scanner.Peek();
                if (next == ',')
                {
                    var tok = _scanner.Scan();
                    if (tok.Kind != TokenKind.Separator) throw Error(tok.Position, "expected a separator");
                    selectors.Add(Selector());
                }
                else if (next == -1)
                {
                    break;
                }
                else
                {
                    throw Error(_scanner.ReadPosition, $"unexpected input: {(next < 0 ? "" : char.ConvertFromUtf32(next))}");
                }
            }
            return selectors.Count == 1 ? selectors[0] : new AllFilter(selectors);
        }

        private Selector Selector()
        {
            var fieldPath = FieldPath();
            int next = _scanner.Peek();
            if (next == ',' || next == -1)
                return new Selector(fieldPath, FilterOperator.Present, "", null);

            var op = Operator();
            string value = Value(allowAltQuotes: op == FilterOperator.Matches);
            Regex? regex = null;
            if (op == FilterOperator.Matches)
            {
                try
                {
                    regex = new Regex(value, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
                }
                catch (Exception e) when (e is ArgumentException or NotSupportedException)
                {
                    throw new FilterSyntaxException($"[{input}]: invalid regular expression {value}: {e.Message}");
                }
            }
            return new Selector(fieldPath, op, value, regex);
        }

        private List<string> FieldPath()
        {
            var fields = new List<string> { Field() };
            while (_scanner.Peek() == '.')
            {
                var tok = _scanner.Scan();
                if (tok.Kind != TokenKind.Separator) throw Error(tok.Position, "expected a field separator (`.`)");
                fields.Add(Field());
            }
            return fields;
        }

        private string Field()
        {
            var tok = _scanner.Scan();
            return tok.Kind switch
            {
                TokenKind.Field => tok.Text,
                TokenKind.Quoted => Unquote(tok, allowAlts: false),
                TokenKind.Illegal => throw Error(tok.Position, _scanner.Error ?? "illegal token"),
                _ => throw Error(tok.Position, "expected field or quoted"),
            };
        }

        private FilterOperator Operator()
        {
            var tok = _scanner.Scan();
            return tok.Kind switch
            {
                TokenKind.Operator => tok.Text switch
                {
                    "==" => FilterOperator.Equal,
                    "!=" => FilterOperator.NotEqual,
                    "~=" => FilterOperator.Matches,
                    _ => throw Error(tok.Position, $"unsupported operator \"{tok.Text}\""),
                },
                TokenKind.Illegal => throw Error(tok.Position, _scanner.Error ?? "illegal token"),
                _ => throw Error(tok.Position, "expected an operator (\"==\"|\"!=\"|\"~=\")"),
            };
        }

        private string Value(bool allowAltQuotes)
        {
            var tok = _scanner.Scan();
            return tok.Kind switch
            {
                TokenKind.Value or TokenKind.Field => tok.Text,
                TokenKind.Quoted => Unquote(tok, allowAltQuotes),
                TokenKind.Illegal => throw Error(tok.Position, _scanner.Error ?? "illegal token"),
                TokenKind.Eof => throw Error(tok.Position, "unexpected end of input, expected value or quoted"),
                _ => throw Error(tok.Position, "expected value or quoted"),
            };
        }

        private string Unquote(Token tok, bool allowAlts)
        {
            if (!allowAlts && tok.Text[0] != '"' && tok.Text[0] != '\'')
                throw Error(tok.Position, "invalid quote encountered");
            return FilterQuote.Unquote(tok.Text) ?? throw Error(tok.Position, "unquoting failed: quote syntax error");
        }

        private FilterSyntaxException Error(int pos, string message)
        {
            if (pos < input.Length)
                return new FilterSyntaxException($"parse error: [{input[..pos]} >|{input[pos]}|< {input[(pos + 1)..]}]: {message}");
            return new FilterSyntaxException($"parse error: [{input}]: {message}");
        }
    }
}
