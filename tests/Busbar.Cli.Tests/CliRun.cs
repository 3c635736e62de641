using System.Text.RegularExpressions;
using Spectre.Console.Testing;

namespace Busbar.Cli.Tests;

/// <summary>Runs a command line in-process against a fixed-width test console and captures what it printed.</summary>
internal sealed partial record CliRun(int ExitCode, string Output, string Error)
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static async Task<CliRun> RunAsync(params string[] args)
    {
        using var interrupt = new CliInterrupt();
        return await RunAsync(new TestConsole().Width(160), interrupt, args);
    }

    public static async Task<CliRun> RunAsync(TestConsole console, CliInterrupt interrupt, params string[] args) =>
        await RunAsync(new CliConsole(console, new StringWriter()), interrupt, args);

    public static async Task<CliRun> RunAsync(CliConsole io, CliInterrupt interrupt, params string[] args)
    {
        var exitCode = await BusbarCli.RunAsync(args, io, interrupt).WaitAsync(Timeout);
        return new CliRun(exitCode, ((TestConsole)io.Console).Output, io.Error.ToString() ?? "");
    }

    /// <summary>The numbers of the summary's invariant line, or a failed assertion if there is none.</summary>
    public static InvariantLine ParseInvariant(string output)
    {
        var match = InvariantPattern().Match(output);
        Assert.True(match.Success, "no invariant line in:\n" + output);
        long N(int group) => long.Parse(match.Groups[group].Value, System.Globalization.CultureInfo.InvariantCulture);
        return new InvariantLine(N(1), N(2), N(3), N(4), N(5), N(6), match.Groups[7].Value);
    }

    [GeneratedRegex(@"invariant: published (\d+) = completed (\d+) \+ dropped (\d+) \+ rejected (\d+) \+ dead-lettered (\d+) \+ cancelled (\d+): (.+)")]
    private static partial Regex InvariantPattern();
}

internal sealed record InvariantLine(long Published, long Completed, long Dropped, long Rejected, long DeadLettered, long Cancelled, string Verdict)
{
    public void AssertAddsUp()
    {
        Assert.Equal(Published, Completed + Dropped + Rejected + DeadLettered + Cancelled);
        Assert.Equal("holds", Verdict.Trim());
        Assert.True(Published > 0);
    }
}
