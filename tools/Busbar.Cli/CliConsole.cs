using System.Globalization;
using Spectre.Console;

namespace Busbar.Cli;

/// <summary>Where a command writes: a Spectre console for output (real or a test console) and a writer for errors.</summary>
/// <param name="Console">Standard output; live views and tables render through it.</param>
/// <param name="Error">Standard error: one-line reasons and usage.</param>
internal sealed record CliConsole(IAnsiConsole Console, TextWriter Error)
{
    /// <summary>Width of a console that is not a terminal and has no <c>COLUMNS</c>: wide enough that a table row is one line.</summary>
    public const int UnboundedWidth = 4096;

    /// <summary>Plain text straight to the output, never through markup: safe for logs and pipes.</summary>
    public TextWriter Out => Console.Profile.Out.Writer;

    /// <summary>Whether a live, redrawn view makes sense: an interactive terminal that understands escape codes.</summary>
    public bool CanRenderLive => Console.Profile.Capabilities.Interactive && Console.Profile.Capabilities.Ansi;

    /// <summary>
    /// The width plain lines are wrapped to (at spaces): the terminal's, or <c>COLUMNS</c> when output
    /// is not a terminal; null means do not wrap (a log or a pipe gets one record per line).
    /// </summary>
    public int? LineWidth => Console.Profile.Capabilities.Interactive || Console.Profile.Width < UnboundedWidth ? Console.Profile.Width : null;

    /// <summary>
    /// The console for this process: no escape codes at all when output is redirected, and a width
    /// from <c>COLUMNS</c> when set, else the terminal's, else unbounded, so redirected tables are not
    /// hard-wrapped at 80 columns.
    /// </summary>
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
        if (Columns(Environment.GetEnvironmentVariable("COLUMNS")) is { } columns)
            console.Profile.Width = columns;
        else if (redirected)
            console.Profile.Width = UnboundedWidth;
        return new CliConsole(console, System.Console.Error);
    }

    /// <summary>A <c>COLUMNS</c> value, if it is a sensible width.</summary>
    public static int? Columns(string? value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var columns) && columns is >= 20 and < UnboundedWidth ? columns : null;
}
