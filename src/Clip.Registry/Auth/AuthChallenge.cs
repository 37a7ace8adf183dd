using System.Text;

namespace Clip.Registry.Auth;

/// <summary>
/// One challenge from a <c>WWW-Authenticate</c> header (RFC 7235 §4.1; the registry token flow of
/// distribution docs/spec/auth/token.md): a scheme and its auth-params, e.g.
/// <c>Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"</c>.
/// </summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);
    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    public string? Realm => Get("realm");
    public string? Service => Get("service");

    /// <summary>The scopes asked for: the <c>scope</c> parameter is a space-separated list.</summary>
    public IReadOnlyList<string> Scopes => Get("scope")?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];

    /// <summary>The <c>error</c> parameter (RFC 6750: invalid_token, insufficient_scope).</summary>
    public string? Error => Get("error");

    private string? Get(string name) => Parameters.TryGetValue(name, out string? v) ? v : null;

    /// <summary>Parses every challenge in the given header values; malformed parts are skipped, never thrown.</summary>
    public static IReadOnlyList<AuthChallenge> Parse(IEnumerable<string> headerValues)
    {
        var result = new List<AuthChallenge>();
        foreach (string value in headerValues) ParseOne(value, result);
        return result;
    }

    public static IReadOnlyList<AuthChallenge> Parse(string headerValue) => Parse([headerValue]);

    private static void ParseOne(string s, List<AuthChallenge> into)
    {
        int i = 0;
        while (true)
        {
            SkipSpaceAndCommas(s, ref i);
            if (i >= s.Length) return;
            string scheme = Token(s, ref i, IsTokenChar);
            if (scheme.Length == 0) { i++; continue; }
            var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            while (true)
            {
                // An auth-param is "name = value"; anything else starts the next challenge (or is a token68, ignored).
                int j = i;
                SkipSpaceAndCommas(s, ref j);
                string name = Token(s, ref j, IsTokenChar);
                int k = j;
                SkipSpace(s, ref k);
                if (name.Length == 0 || k >= s.Length || s[k] != '=')
                {
                    i = name.Length == 0 ? j : j - name.Length;
                    break;
                }
                i = k + 1;
                SkipSpace(s, ref i);
                parameters[name] = i < s.Length && s[i] == '"' ? Quoted(s, ref i) : Token(s, ref i, c => c != ',' && c != ' ' && c != '\t');
                SkipSpace(s, ref i);
            }
            into.Add(new AuthChallenge(scheme, parameters));
        }
    }

    private static void SkipSpace(string s, ref int i)
    {
        while (i < s.Length && (s[i] == ' ' || s[i] == '\t')) i++;
    }

    private static void SkipSpaceAndCommas(string s, ref int i)
    {
        while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) i++;
    }

    private static string Token(string s, ref int i, Func<char, bool> accept)
    {
        int start = i;
        while (i < s.Length && accept(s[i])) i++;
        return s[start..i];
    }

    // RFC 7230 tchar.
    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c);

    private static string Quoted(string s, ref int i)
    {
        var sb = new StringBuilder();
        i++; // opening quote
        while (i < s.Length && s[i] != '"')
        {
            if (s[i] == '\\' && i + 1 < s.Length) i++;
            sb.Append(s[i]);
            i++;
        }
        if (i < s.Length) i++; // closing quote
        return sb.ToString();
    }
}
