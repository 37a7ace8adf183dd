using Spectre.Console;

namespace Clip.Cli;

/// <summary>Where a command writes: data to <see cref="Out"/> (a byte stream, for cat), messages to <see cref="Error"/>.</summary>
public sealed class CliConsole
{
    public CliConsole(Stream stdout, TextWriter stderr, bool interactive)
    {
        Out = stdout;
        Error = stderr;
        Interactive = interactive;
        OutText = new StreamWriter(stdout, new System.Text.UTF8Encoding(false), 64 * 1024, leaveOpen: true) { AutoFlush = false };
        Ansi = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(OutText),
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        if (!interactive) Ansi.Profile.Width = 160;
        AnsiError = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stderr),
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
    }

    public static CliConsole System => new(Console.OpenStandardOutput(), Console.Error, !Console.IsErrorRedirected && !Console.IsOutputRedirected);

    public Stream Out { get; }
    public TextWriter OutText { get; }
    public TextWriter Error { get; }
    public bool Interactive { get; }
    /// <summary>Rich output (tables) to stdout.</summary>
    public IAnsiConsole Ansi { get; }
    /// <summary>Progress displays to stderr, so stdout stays clean for data.</summary>
    public IAnsiConsole AnsiError { get; }
}
