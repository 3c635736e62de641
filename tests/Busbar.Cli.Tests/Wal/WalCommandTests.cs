namespace Busbar.Cli.Tests.Wal;

public sealed class WalCommandTests
{
    [Fact]
    public async Task Inspect_Log_ShowsSegmentsUnfinishedWorkAndNoProblems()
    {
        using var wal = await WalFixture.CreateAsync();

        var run = await CliRun.RunAsync("wal", "inspect", wal.Directory);

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("unfinished events: 1; dead letters: 1; problems: 0", run.Output);
        Assert.Contains(Path.GetFileName(wal.SegmentPath), run.Output);
        Assert.Matches(@"\.wal\s+\d+\s+3\s+2\s+1\s+0", run.Output);
        Assert.Contains(wal.UnfinishedEventId.ToString(), run.Output);
        Assert.Contains("email", run.Output);
        Assert.Contains("damage: none", run.Output);
    }

    [Fact]
    public async Task Inspect_CorruptRecord_ReportsChecksumMismatchAndExitsDamaged()
    {
        using var wal = await WalFixture.CreateAsync();
        var bytes = await File.ReadAllBytesAsync(wal.SegmentPath);
        bytes[16 + 5 + 2] ^= 0xFF; // inside the body of the first record, after the 16-byte segment header
        await File.WriteAllBytesAsync(wal.SegmentPath, bytes);

        var run = await CliRun.RunAsync("wal", "inspect", wal.Directory);

        Assert.Equal(ExitCodes.Damaged, run.ExitCode);
        Assert.Contains("problems: 1", run.Output);
        Assert.Contains("damage: 1 problems (exit code 3)", run.Output);
        Assert.Contains("ChecksumMismatch", run.Output);
    }

    [Fact]
    public async Task DeadLetters_Log_ListsEachWithItsReason()
    {
        using var wal = await WalFixture.CreateAsync();

        var run = await CliRun.RunAsync("wal", "dead-letters", wal.Directory);

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("1 dead letters in", run.Output);
        Assert.Contains(wal.DeadLetterId.ToString(), run.Output);
        Assert.Contains("System.InvalidOperationException: SKU POISON-1 of order 37 is not in the catalogue.", run.Output);
        Assert.Contains("inventory", run.Output);
    }

    [Fact]
    public async Task Redrive_ById_MovesTheDeadLetterBackToUnfinishedWork()
    {
        using var wal = await WalFixture.CreateAsync();

        var run = await CliRun.RunAsync("wal", "redrive", wal.Directory, "--id", wal.DeadLetterId.ToString());

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("1 dead letters re-driven", run.Output);
        var after = await CliRun.RunAsync("wal", "inspect", wal.Directory);
        Assert.Contains("unfinished events: 2; dead letters: 0", after.Output);
        Assert.Contains(wal.PoisonEventId.ToString(), after.Output);
    }

    [Fact]
    public async Task Redrive_All_EmptiesTheDeadLetters()
    {
        using var wal = await WalFixture.CreateAsync();

        var run = await CliRun.RunAsync("wal", "redrive", wal.Directory, "--all");

        Assert.Equal(0, run.ExitCode);
        var after = await CliRun.RunAsync("wal", "dead-letters", wal.Directory);
        Assert.Contains("0 dead letters in", after.Output);
    }

    [Fact]
    public async Task Redrive_UnknownId_SaysSoAndExits1WithoutWriting()
    {
        using var wal = await WalFixture.CreateAsync();
        var unknown = Guid.NewGuid();

        var run = await CliRun.RunAsync("wal", "redrive", wal.Directory, "--id", unknown.ToString());

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"no dead letter with id {unknown}", run.Error);
        var after = await CliRun.RunAsync("wal", "dead-letters", wal.Directory);
        Assert.Contains("1 dead letters in", after.Output);
    }
}
