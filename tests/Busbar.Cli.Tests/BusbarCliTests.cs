namespace Busbar.Cli.Tests;

public sealed class BusbarCliTests
{
    [Theory]
    [InlineData(new[] { "frobnicate" }, "Unrecognized command or argument 'frobnicate'", "usage: busbar <demo|wal|tail|publish|dead-letters|redrive>")]
    [InlineData(new string[0], "Required command was not provided", "usage: busbar <demo|wal|tail|publish|dead-letters|redrive>")]
    [InlineData(new[] { "demo", "--bogus" }, "'--bogus'", "usage: busbar demo [options]")]
    [InlineData(new[] { "demo", "--rate", "0" }, "--rate '0' is not a whole number from 1 to 2147483647", "usage: busbar demo [options]")]
    [InlineData(new[] { "demo", "--full-mode", "sideways" }, "--full-mode 'sideways' is not one of", "usage: busbar demo [options]")]
    [InlineData(new[] { "demo", "--duration", "soon" }, "--duration 'soon' is not a time from 500ms to 24h", "usage: busbar demo [options]")]
    [InlineData(new[] { "wal", "inspect" }, "Required argument missing", "usage: busbar wal inspect <dir>")]
    [InlineData(new[] { "wal", "redrive", "/tmp" }, "either --id", "usage: busbar wal redrive <dir> [options]")]
    public async Task Run_BadCommandLine_PrintsReasonAndUsageAndExits2(string[] args, string reason, string usage)
    {
        var run = await CliRun.RunAsync(args);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        var lines = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("busbar: ", lines[0]);
        Assert.Contains(reason, lines[0]);
        Assert.StartsWith(usage, lines[1]);
        Assert.Equal("", run.Output);
    }

    [Theory]
    [InlineData("inspect")]
    [InlineData("dead-letters")]
    public async Task Run_WalCommandOnMissingDirectory_SaysSoAndExits1(string command)
    {
        var missing = Path.Combine(Path.GetTempPath(), "busbar-missing-" + Guid.NewGuid().ToString("N"));

        var run = await CliRun.RunAsync("wal", command, missing);

        Assert.Equal(ExitCodes.Failure, run.ExitCode);
        Assert.Equal($"busbar: the write-ahead log directory '{missing}' does not exist.", run.Error.TrimEnd());
        Assert.DoesNotContain("   at ", run.Error);
    }

    [Fact]
    public async Task Run_DemoWalIsAFile_SaysSoAndExits1()
    {
        var file = Path.GetTempFileName();
        try
        {
            var run = await CliRun.RunAsync("demo", "--wal", file, "--no-live");

            Assert.Equal(ExitCodes.Failure, run.ExitCode);
            Assert.Contains("is a file, not a directory", run.Error);
            Assert.DoesNotContain("   at ", run.Error);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Run_Help_ListsCommandsAndExits0()
    {
        var run = await CliRun.RunAsync("--help");

        Assert.Equal(ExitCodes.Success, run.ExitCode);
        Assert.Contains("demo", run.Output);
        Assert.Contains("wal", run.Output);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("demo", "--help")]
    [InlineData("wal", "inspect", "--help")]
    [InlineData("wal", "redrive", "--help")]
    public async Task Run_Help_NamesTheToolBusbar(params string[] args)
    {
        var run = await CliRun.RunAsync(args);

        Assert.Equal(ExitCodes.Success, run.ExitCode);
        Assert.Contains("  busbar", run.Output);
        Assert.DoesNotContain("Busbar.Cli", run.Output);
        Assert.DoesNotContain("testhost", run.Output);
    }

    [Fact]
    public async Task Run_DemoHelp_ShowsDefaultsAsTheOptionsAcceptThem()
    {
        var run = await CliRun.RunAsync("demo", "--help");

        Assert.Contains("[default: wait]", run.Output);
        Assert.Contains("[default: always]", run.Output);
        Assert.Contains("[default: 4]", run.Output);
        Assert.DoesNotContain("[default: Wait]", run.Output);
        Assert.DoesNotContain("[default: Always]", run.Output);
    }
}
