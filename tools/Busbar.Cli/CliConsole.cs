using Spectre.Console;

namespace Busbar.Cli;

/// <summary>Where a command writes: a Spectre console for output (real or a test console) and a writer for errors.</summary>
/// <param name="Console">Standard output; live views render through it.</param>
/// <param name="Error">Standard error: one-line reasons and usage.</param>
internal sealed record CliConsole(IAnsiConsole Console, TextWriter Error)
{
    /// <summary>Plain text straight to the output, never through markup: safe for logs and pipes.</summary>
    public TextWriter Out => Console.Profile.Out.Writer;

    /// <summary>Whether a live, redrawn view makes sense: an interactive terminal that understands escape codes.</summary>
    public bool CanRenderLive => Console.Profile.Capabilities.Interactive && Console.Profile.Capabilities.Ansi;

    /// <summary>The console for this process: no escape codes at all when output is redirected.</summary>
    public static CliConsole ForProcess()
    {
        var redirected = System.Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect,
            Out = new AnsiConsoleOutput(System.Console.Out),
        });
        return new CliConsole(console, System.Console.Error);
    }
}
