using System.Globalization;
using System.Text.RegularExpressions;

namespace Busbar.Cli.Tests.Demo;

/// <summary><c>busbar demo --wal</c> writes a real write-ahead log, and <c>busbar wal inspect</c> agrees with the demo's summary.</summary>
public sealed partial class DemoWalTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "busbar-cli-demo-wal-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Demo_WithWal_InspectAgreesWithSummary_AndNextRunRecoversWhatWasLeft()
    {
        var first = await CliRun.RunAsync("demo", "--wal", _dir, "--duration", "2", "--no-live");

        Assert.Equal(0, first.ExitCode);
        CliRun.ParseInvariant(first.Output).AssertAddsUp();
        var pendingInLog = Number(PendingInLogPattern(), first.Output);
        var deadLettered = CliRun.ParseInvariant(first.Output).DeadLettered;
        Assert.True(Directory.GetFiles(_dir, "*.wal").Length > 0, "the demo wrote no segment files");

        var inspect = await CliRun.RunAsync("wal", "inspect", _dir);

        Assert.Equal(0, inspect.ExitCode);
        var counts = InspectPattern().Match(inspect.Output);
        Assert.True(counts.Success, "no counts line in:\n" + inspect.Output);
        Assert.Equal(pendingInLog, long.Parse(counts.Groups["pending"].Value, CultureInfo.InvariantCulture));
        Assert.Equal(deadLettered, long.Parse(counts.Groups["dead"].Value, CultureInfo.InvariantCulture));
        Assert.Equal("0", counts.Groups["problems"].Value);
        Assert.Contains("damage: none", inspect.Output);

        // The next run on the same directory re-handles what the first one left pending.
        var second = await CliRun.RunAsync("demo", "--wal", _dir, "--duration", "2", "--no-live");

        Assert.Equal(0, second.ExitCode);
        CliRun.ParseInvariant(second.Output).AssertAddsUp();
        if (pendingInLog > 0)
            Assert.Equal(pendingInLog, Number(RecoveredPattern(), second.Output));
        else
            Assert.DoesNotMatch(RecoveredPattern(), second.Output);
    }

    private static long Number(Regex pattern, string output)
    {
        var match = pattern.Match(output);
        Assert.True(match.Success, $"no match for {pattern} in:\n{output}");
        return long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"pending in log\s+(\d+)")]
    private static partial Regex PendingInLogPattern();

    [GeneratedRegex(@"recovered\s+(\d+)")]
    private static partial Regex RecoveredPattern();

    [GeneratedRegex(@"pending events: (?<pending>\d+); dead letters: (?<dead>\d+); problems: (?<problems>\d+)")]
    private static partial Regex InspectPattern();
}
