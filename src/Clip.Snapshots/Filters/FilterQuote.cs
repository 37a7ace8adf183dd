using System.Text;

namespace Clip.Snapshots.Filters;

/// <summary>
/// Go string-literal unquoting as containerd's filters/quote.go does it: <c>"</c> quotes, plus
/// <c>/</c> and <c>|</c> as double-quote-like delimiters for regular expressions.
/// </summary>
internal static class FilterQuote
{
    /// <summary>The unquoted string, or null when <paramref name="s"/> is not a valid literal.</summary>
    public static string? Unquote(string s)
    {
        if (s.Length < 2) return null;
        char quote = s[0];
        if (quote != s[^1]) return null;
        string body = s[1..^1];
        if (quote == '`')
            return body.Contains('`') ? null : body.Replace("\r", "");
        if (quote is not ('"' or '\'' or '|' or '/')) return null;
        if (body.Contains('\n')) return null;
        if (!body.Contains('\\') && !body.Contains(quote) && quote != '\'')
            return body;

        // Decode to bytes like Go does (\x escapes are single bytes), then back to UTF-8 text.
        var bytes = new List<byte>(body.Length);
        Span<byte> utf8 = stackalloc byte[4];
        int i = 0;
        while (i < body.Length)
        {
            char c = body[i];
            if (c == quote) return null;
            if (c != '\\')
            {
                var status = Rune.DecodeFromUtf16(body.AsSpan(i), out var r, out int w);
                if (status != System.Buffers.OperationStatus.Done) return null;
                int n = r.EncodeToUtf8(utf8);
                for (int k = 0; k < n; k++) bytes.Add(utf8[k]);
                i += w;
            }
            else
            {
                if (i + 1 >= body.Length) return null;
                char e = body[i + 1];
                i += 2;
                switch (e)
                {
                    case 'a': bytes.Add(7); break;
                    case 'b': bytes.Add(8); break;
                    case 'f': bytes.Add(12); break;
                    case 'n': bytes.Add(10); break;
                    case 'r': bytes.Add(13); break;
                    case 't': bytes.Add(9); break;
                    case 'v': bytes.Add(11); break;
                    case '\\': bytes.Add((byte)'\\'); break;
                    case 'x' or 'u' or 'U':
                    {
                        int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                        if (i + len > body.Length) return null;
                        int v = 0;
                        for (int j = 0; j < len; j++)
                        {
                            int d = Hex(body[i + j]);
                            if (d < 0) return null;
                            v = (v << 4) | d;
                        }
                        i += len;
                        if (e == 'x')
                        {
                            bytes.Add((byte)v);
                        }
                        else
                        {
                            if (v > 0x10FFFF || !Rune.IsValid(v)) return null;
                            int n = new Rune(v).EncodeToUtf8(utf8);
                            for (int k = 0; k < n; k++) bytes.Add(utf8[k]);
                        }
                        break;
                    }
                    case >= '0' and <= '7':
                    {
                        if (i + 2 > body.Length) return null;
                        int v = e - '0';
                        for (int j = 0; j < 2; j++)
                        {
                            int x = body[i + j] - '0';
                            if (x is < 0 or > 7) return null;
                            v = (v << 3) | x;
                        }
                        i += 2;
                        if (v > 255) return null;
                        bytes.Add((byte)v);
                        break;
                    }
                    case '\'' or '"' or '|' or '/':
                        if (e != quote) return null;
                        bytes.Add((byte)e);
                        break;
                    default:
                        return null;
                }
            }
            if (quote == '\'' && i < body.Length) return null; // a Go character literal holds one character
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static int Hex(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
