using System.Text.Json;
using Busbar.Durability;
using Microsoft.Extensions.Logging.Abstractions;

namespace Busbar.Cli.Tests.Wal;

public sealed class WalCommandTests
{
    [Fact]
    public async Task Inspect_Log_ShowsSegmentsPendingEventsAndNoProblems()
    {
        using var wal = await WalFixture.CreateAsync();

        var run = await CliRun.RunAsync("wal", "inspect", wal.Directory);

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("pending events: 1; dead letters: 1; problems: 0", run.Output);
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
    public async Task Redrive_ById_MovesTheDeadLetterBackToPendingEvents()
    {
        using var wal = await WalFixture.CreateAsync();

        var run = await CliRun.RunAsync("wal", "redrive", wal.Directory, "--id", wal.DeadLetterId.ToString());

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("1 dead letters re-driven", run.Output);
        var after = await CliRun.RunAsync("wal", "inspect", wal.Directory);
        Assert.Contains("pending events: 2; dead letters: 0", after.Output);
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

    [Theory]
    [InlineData("inspect")]
    [InlineData("dead-letters")]
    [InlineData("redrive")]
    public async Task WalCommand_DirectoryWithoutLog_IsAnErrorAndLeavesNothingBehind(string command)
    {
        var empty = Directory.CreateTempSubdirectory("busbar-cli-empty-").FullName;
        try
        {
            string[] args = command == "redrive" ? ["wal", command, empty, "--all"] : ["wal", command, empty];

            var run = await CliRun.RunAsync(args);

            Assert.Equal(ExitCodes.Failure, run.ExitCode);
            Assert.Equal($"busbar: '{empty}' holds no write-ahead log (no *.wal segment files).", run.Error.TrimEnd());
            Assert.Empty(Directory.EnumerateFileSystemEntries(empty));
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    [Fact]
    public async Task Inspect_Json_IsOneDocumentWithEveryRecordAndTheExitCode()
    {
        using var wal = await WalFixture.CreateAsync();

        var run = await CliRun.RunAsync("wal", "inspect", wal.Directory, "--json");

        Assert.Equal(0, run.ExitCode);
        using var json = JsonDocument.Parse(run.Output);
        var root = json.RootElement;
        Assert.Equal(wal.Directory, root.GetProperty("directory").GetString());
        Assert.False(root.GetProperty("damaged").GetBoolean());
        Assert.Equal(0, root.GetProperty("exitCode").GetInt32());
        var segment = Assert.Single(root.GetProperty("segments").EnumerateArray());
        Assert.Equal(3, segment.GetProperty("eventRecords").GetInt32());
        Assert.Equal(2, segment.GetProperty("handlerFinishedRecords").GetInt32());
        var unfinished = Assert.Single(root.GetProperty("pendingEvents").EnumerateArray());
        Assert.Equal(wal.UnfinishedEventId, unfinished.GetProperty("eventId").GetGuid());
        Assert.Equal(["email"], unfinished.GetProperty("pendingSubscriptions").EnumerateArray().Select(static e => e.GetString()));
        var letter = Assert.Single(root.GetProperty("deadLetters").EnumerateArray());
        Assert.Equal(wal.DeadLetterId, letter.GetProperty("deadLetterId").GetGuid());
        Assert.Empty(root.GetProperty("problems").EnumerateArray());
    }

    [Fact]
    public async Task Inspect_JsonOnDamage_ListsTheProblemAndExitsDamaged()
    {
        using var wal = await WalFixture.CreateAsync();
        var bytes = await File.ReadAllBytesAsync(wal.SegmentPath);
        bytes[16 + 5 + 2] ^= 0xFF;
        await File.WriteAllBytesAsync(wal.SegmentPath, bytes);

        var run = await CliRun.RunAsync("wal", "inspect", wal.Directory, "--json");

        Assert.Equal(ExitCodes.Damaged, run.ExitCode);
        using var json = JsonDocument.Parse(run.Output);
        Assert.True(json.RootElement.GetProperty("damaged").GetBoolean());
        Assert.Equal(ExitCodes.Damaged, json.RootElement.GetProperty("exitCode").GetInt32());
        var problem = Assert.Single(json.RootElement.GetProperty("problems").EnumerateArray());
        Assert.Equal(Path.GetFileName(wal.SegmentPath), problem.GetProperty("segment").GetString());
    }

    [Fact]
    public async Task DeadLetters_Json_ListsEachWithItsReason()
    {
        using var wal = await WalFixture.CreateAsync();

        var run = await CliRun.RunAsync("wal", "dead-letters", wal.Directory, "--json");

        Assert.Equal(0, run.ExitCode);
        using var json = JsonDocument.Parse(run.Output);
        var letter = Assert.Single(json.RootElement.GetProperty("deadLetters").EnumerateArray());
        Assert.Equal(wal.DeadLetterId, letter.GetProperty("deadLetterId").GetGuid());
        Assert.Equal(wal.PoisonEventId, letter.GetProperty("eventId").GetGuid());
        Assert.Equal("inventory", letter.GetProperty("subscription").GetString());
        Assert.Equal(3, letter.GetProperty("attempts").GetInt32());
        Assert.Equal("System.InvalidOperationException", letter.GetProperty("exceptionType").GetString());
    }

    [Fact]
    public async Task Inspect_Text_SaysWhatTheRecordColumnsCount()
    {
        using var wal = await WalFixture.CreateAsync();

        var run = await CliRun.RunAsync("wal", "inspect", wal.Directory);

        Assert.Contains("segments (records by type)", run.Output);
        Assert.Contains("handler finished", run.Output);
        Assert.Contains("handler finished: one record each time a subscription finished with an event", run.Output);
    }

    [Fact]
    public async Task Inspect_TornTailOnly_ListedButNotDamage()
    {
        using var wal = await WalFixture.CreateAsync();
        await using (var segment = new FileStream(wal.SegmentPath, FileMode.Append))
            await segment.WriteAsync(new byte[] { 0x40, 0x00, 0x00, 0x00, 0x01, 0x02 });

        var run = await CliRun.RunAsync("wal", "inspect", wal.Directory);

        Assert.Equal(ExitCodes.Success, run.ExitCode);
        Assert.Contains("TornTail", run.Output);
        Assert.Contains("damage: none; a torn tail is the normal trace of a crash mid-write", run.Output);
    }

    [Fact]
    public async Task Redrive_LogOpenInARunningBus_RefusesWithExit1AndWritesNothing()
    {
        using var wal = await WalFixture.CreateAsync();
        var before = await File.ReadAllBytesAsync(wal.SegmentPath);
        await using (WriteAheadLog.Open(wal.Directory, new WriteAheadLogOptions(), TimeProvider.System, NullLogger.Instance))
        {
            var run = await CliRun.RunAsync("wal", "redrive", wal.Directory, "--all");

            Assert.Equal(ExitCodes.Failure, run.ExitCode);
            Assert.Contains("is open in a running bus; stop it first", run.Error);
        }

        Assert.Equal(before, await File.ReadAllBytesAsync(wal.SegmentPath));
    }
}
