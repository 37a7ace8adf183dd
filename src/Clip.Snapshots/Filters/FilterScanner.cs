using System.Globalization;
using System.Text;

namespace Clip.Snapshots.Filters;

/// <summary>Token classes of the containerd filter language (containerd filters/scanner.go, v1.6–v2.2).</summary>
internal enum TokenKind
{
    Eof,
    Quoted,
    Value,
    Field,
    Separator,
    Operator,
    Illegal,
    /// <summary>Any other single character (returned as-is, like the Go scanner's token(ch)).</summary>
    Char,
}

internal readonly record struct Token(TokenKind Kind, int Position, string Text);

/// <summary>
/// The filter lexer. It mirrors containerd's scanner rune for rune, including its modes: after an
/// operator the next unquoted run is a value (<c>[^\s,]+</c>), otherwise a field (<c>[A-Za-z0-9_]+</c>);
/// <c>"</c>, <c>/</c> and <c>|</c> open quoted strings; <c>,</c> and <c>.</c> are separators.
/// </summary>
internal sealed class FilterScanner
{
    private const int EofRune = -1;
    private const int IllegalRune = -2;

    private readonly string _input;
    private int _pos;   // start of the current rune
    private int _ppos;  // end of the current rune
    private bool _value;

    public FilterScanner(string input) => _input = input;

    /// <summary>Position just past the last rune read (used for "unexpected input" errors).</summary>
    public int ReadPosition => _ppos;

    /// <summary>The first lexical error met, if any.</summary>
    public string? Error { get; private set; }

    private int Next()
    {
        if (_pos >= _input.Length) return EofRune;
        _pos = _ppos;
        if (_ppos >= _input.Length) return EofRune;
        var status = Rune.DecodeFromUtf16(_input.AsSpan(_ppos), out var r, out int width);
        _ppos += width;
        if (status != System.Buffers.OperationStatus.Done)
        {
            SetError("rune error");
            return IllegalRune;
        }
        if (r.Value == 0)
        {
            SetError("unexpected null");
            return IllegalRune;
        }
        return r.Value;
    }

    /// <summary>The next rune without consuming it (-1 at the end).</summary>
    public int Peek()
    {
        int pos = _pos, ppos = _ppos;
        int ch = Next();
        _pos = pos;
        _ppos = ppos;
        return ch;
    }

    public Token Scan()
    {
        int ch = Next();
        int pos = _pos;
        while (true)
        {
            if (ch == EofRune) return new Token(TokenKind.Eof, pos, "");
            if (ch == IllegalRune) return new Token(TokenKind.Illegal, pos, "");
            if (IsQuote(ch))
            {
                bool ok = ScanQuoted(ch);
                return new Token(ok ? TokenKind.Quoted : TokenKind.Illegal, pos, _input[pos.._ppos]);
            }
            if (IsSeparator(ch))
            {
                _value = false;
                return new Token(TokenKind.Separator, pos, _input[pos.._ppos]);
            }
            if (IsOperator(ch))
            {
                while (Peek() is '=' or '!' or '~') Next();
                _value = true;
                return new Token(TokenKind.Operator, pos, _input[pos.._ppos]);
            }
            if (Rune.IsWhiteSpace(new Rune(ch)))
            {
                ch = Next();
                pos = _pos;
                continue;
            }
            if (_value)
            {
                while (Peek() is var p && p >= 0 && IsValueRune(p)) Next();
                _value = false;
                return new Token(TokenKind.Value, pos, _input[pos.._ppos]);
            }
            if (IsFieldRune(ch))
            {
                while (Peek() is var p && p >= 0 && IsFieldRune(p)) Next();
                return new Token(TokenKind.Field, pos, _input[pos.._ppos]);
            }
            return new Token(TokenKind.Char, _pos, char.ConvertFromUtf32(ch));
        }
    }

    private bool ScanQuoted(int quote)
    {
        bool illegal = false;
        int ch = Next();
        while (ch != quote)
        {
            if (ch == '\n' || ch < 0)
            {
                SetError("quoted literal not terminated");
                return false;
            }
            if (ch == '\\')
            {
                (ch, bool legal) = ScanEscape(quote);
                if (!legal) illegal = true;
            }
            else
            {
                ch = Next();
            }
        }
        return !illegal;
    }

    private (int Next, bool Legal) ScanEscape(int quote)
    {
        int ch = Next();
        switch (ch)
        {
            case 'a' or 'b' or 'f' or 'n' or 'r' or 't' or 'v' or '\\':
                return (Next(), true);
            case >= '0' and <= '7':
                return ScanDigits(ch, 8, 3);
            case 'x':
                return ScanDigits(Next(), 16, 2);
            case 'u':
                return ScanDigits(Next(), 16, 4);
            case 'U':
                return ScanDigits(Next(), 16, 8);
            default:
                if (ch == quote) return (Next(), true);
                SetError("illegal escape sequence");
                return (ch, false);
        }
    }

    private (int, bool) ScanDigits(int ch, int numberBase, int n)
    {
        while (n > 0 && DigitValue(ch) < numberBase)
        {
            ch = Next();
            n--;
        }
        if (n > 0)
        {
            SetError("illegal numeric escape sequence");
            return (ch, false);
        }
        return (ch, true);
    }

    private void SetError(string message) => Error ??= message;

    private static int DigitValue(int ch) => ch switch
    {
        >= '0' and <= '9' => ch - '0',
        >= 'a' and <= 'f' => ch - 'a' + 10,
        >= 'A' and <= 'F' => ch - 'A' + 10,
        _ => 16,
    };

    internal static bool IsFieldRune(int r) => r == '_' || r is >= 'A' and <= 'Z' or >= 'a' and <= 'z' or >= '0' and <= '9';
    private static bool IsOperator(int r) => r is '=' or '!' or '~';
    private static bool IsQuote(int r) => r is '/' or '|' or '"';
    private static bool IsSeparator(int r) => r is ',' or '.';

    private static bool IsValueRune(int r)
    {
        if (r == ',') return false;
        var rune = new Rune(r);
        if (Rune.IsWhiteSpace(rune)) return false;
        // Go: unicode.IsLetter || IsDigit || IsNumber || IsGraphic || IsPunct.
        var cat = Rune.GetUnicodeCategory(rune);
        return cat switch
        {
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
                or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => false,
            _ => true,
        };
    }
}
