using System.Diagnostics;
using System.Text;

namespace Busbar.Cli.Tests;

/// <summary>The built <c>busbar</c> as a real process: redirected output, exit codes, and SIGINT.</summary>
public sealed class ProcessTests
{
    [Fact]
    public async Task Demo_RedirectedOutput_PlainSummaryThatAddsUp()
    {
        using var process = CliProcess.Start("demo", "--duration", "3");

        var exitCode = await process.WaitForExitAsync();

        Assert.Equal(0, exitCode);
        Assert.DoesNotContain('\u001b', process.Output);
        Assert.Contains("busbar demo: order pipeline", process.Output);
        CliRun.ParseInvariant(process.Output).AssertAddsUp();
        Assert.Equal("", process.Error);
        var log = System.Text.RegularExpressions.Regex.Match(process.Output, @"write-ahead log  (\S+) \(temporary: removed");
        Assert.True(log.Success, "no temporary log line in:\n" + process.Output);
        Assert.False(Directory.Exists(log.Groups[1].Value), "the temporary log was not removed: " + log.Groups[1].Value);
    }

    [Fact]
    public async Task Demo_Sigint_GracefulShutdownAndSummary()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            return;
        using var process = CliProcess.Start("demo", "--duration", "60", "--no-live");
        await Eventually.TrueAsync(() => process.Output.Contains("publishing published=", StringComparison.Ordinal), "the demo printed progress");

        using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        var exitCode = await process.WaitForExitAsync();

        Assert.Equal(0, exitCode);
        Assert.Contains("graceful shutdown (interrupted by Ctrl+C)", process.Output);
        CliRun.ParseInvariant(process.Output).AssertAddsUp();
    }

    [Theory]
    [InlineData(2, "frobnicate")]
    [InlineData(2, "demo", "--capacity", "zero")]
    [InlineData(1, "wal", "inspect", "/nonexistent/busbar-wal")]
    [InlineData(2, "wal", "redrive", "/tmp", "--id", "nope")]
    [InlineData(2, "wal", "redrive", "/tmp", "--all", "--id", "x")]
    [InlineData(2, "demo", "--events", "abc")]
    public async Task Run_UserErrors_ExitCodeAndOneLineReason(int expected, params string[] args)
    {
        using var process = CliProcess.Start(args);

        var exitCode = await process.WaitForExitAsync();

        Assert.Equal(expected, exitCode);
        Assert.StartsWith("busbar: ", process.Error);
        Assert.DoesNotContain("   at ", process.Error);
        Assert.DoesNotContain("Exception", process.Error);
    }

    [Fact]
    public async Task Demo_Sigterm_GracefulShutdownReportedAsSigterm()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            return;
        using var process = CliProcess.Start("demo", "--duration", "60", "--no-live", "--rate", "100", "--capacity", "32");
        await Eventually.TrueAsync(() => process.Output.Contains("publishing published=", StringComparison.Ordinal), "the demo printed progress");

        await process.SignalAsync("TERM");
        var exitCode = await process.WaitForExitAsync();

        Assert.Equal(0, exitCode);
        Assert.Contains("SIGTERM: shutting down gracefully", process.Output);
        Assert.Contains("graceful shutdown (interrupted by SIGTERM)", process.Output);
        Assert.DoesNotContain("Ctrl+C)", process.Output);
        CliRun.ParseInvariant(process.Output).AssertAddsUp();
    }

    [Fact]
    public async Task Inspect_Redirected_EachRecordOnOneLine()
    {
        using var wal = await Wal.WalFixture.CreateAsync("orders-view", "inventory-projection", "analytics", "billing", "email", "audit-log");
        using var process = CliProcess.Start("wal", "inspect", wal.Directory);

        var exitCode = await process.WaitForExitAsync();

        Assert.Equal(0, exitCode);
        var row = Assert.Single(process.Output.Split('\n'), line => line.Contains(wal.UnfinishedEventId.ToString(), StringComparison.Ordinal));
        Assert.Contains("orders.placed", row);
        Assert.Contains("1970-01-01 00:00:00", row);
        Assert.Contains("orders-view, inventory-projection, analytics, billing, email, audit-log", row);
    }

    [Fact]
    public async Task Inspect_RedirectedWithColumns_HonoursTheWidth()
    {
        using var wal = await Wal.WalFixture.CreateAsync("orders-view", "inventory-projection", "analytics", "billing", "email", "audit-log");
        using var process = CliProcess.Start(new Dictionary<string, string> { ["COLUMNS"] = "100" }, "wal", "inspect", wal.Directory);

        var exitCode = await process.WaitForExitAsync();

        Assert.Equal(0, exitCode);
        Assert.All(process.Output.Split('\n'), line => Assert.True(line.Length <= 100, "line wider than COLUMNS: " + line));
        var row = Assert.Single(process.Output.Split('\n'), line => line.Contains(wal.UnfinishedEventId.ToString(), StringComparison.Ordinal));
        Assert.Contains("1970-01-01 00:00:00", row);
        Assert.True(row.Length <= 100, "row wider than COLUMNS: " + row);
    }

    [Fact]
    public async Task Help_RealProcess_NamesTheToolBusbar()
    {
        using var process = CliProcess.Start("demo", "--help");

        var exitCode = await process.WaitForExitAsync();

        Assert.Equal(0, exitCode);
        Assert.Contains("busbar demo [options]", process.Output);
        Assert.DoesNotContain("Busbar.Cli", process.Output);
    }

    [Fact]
    public async Task Inspect_RealProcessOnDamagedLog_Exits3()
    {
        using var wal = await Wal.WalFixture.CreateAsync();
        var bytes = await File.ReadAllBytesAsync(wal.SegmentPath);
        bytes[16 + 5 + 2] ^= 0xFF;
        await File.WriteAllBytesAsync(wal.SegmentPath, bytes);
        using var process = CliProcess.Start("wal", "inspect", wal.Directory);

        var exitCode = await process.WaitForExitAsync();

        Assert.Equal(3, exitCode);
        Assert.Contains("ChecksumMismatch", process.Output);
        Assert.Equal("", process.Error);
    }
}
