using Busbar.Durability;

namespace Busbar.Tests.Durability;

public class WriteAheadLogInspectorTests
{
    private static readonly WriteAheadLogOptions s_options = new() { FlushMode = WalFlushMode.None };

    [Fact]
    public async Task Inspect_DamagedMiddleRecord_ReportsStructuredProblemAndHasDamage()
    {
        using var dir = new WalTestDirectory();
        var records = new[] { WalTestRecords.Event(), WalTestRecords.Event(), WalTestRecords.Event() };
        await using (var log = dir.Open(s_options))
        {
            foreach (var record in records)
            {
                await log.AppendEventAsync(record);
            }
        }

        var segment = Assert.Single(dir.SegmentFiles());
        var secondStart = WalFormat.SegmentHeaderSize + WalRecordCodec.GetFrameLength(records[0]);
        var bytes = await File.ReadAllBytesAsync(segment);
        bytes[secondStart + 40] ^= 0x01;
        await File.WriteAllBytesAsync(segment, bytes);

        var inspection = WriteAheadLogInspector.Inspect(dir.Path);

        Assert.True(inspection.HasDamage);
        Assert.Equal(Path.GetFullPath(dir.Path), inspection.Directory);
        Assert.Equal(2, inspection.PendingEvents);
        Assert.Equal(0, inspection.DeadLetterCount);
        Assert.Equal(Path.GetFileName(segment), Assert.Single(inspection.Segments).FileName);
        var problem = Assert.Single(inspection.Problems);
        Assert.Equal(WalProblemKind.ChecksumMismatch, problem.Kind);
        Assert.Equal(Path.GetFileName(segment), problem.SegmentFileName);
        Assert.Equal(secondStart, problem.Offset);
        Assert.Equal(WalRecordCodec.GetFrameLength(records[1]), problem.ByteCount);
        Assert.Equal(WalRecoveryAction.Skip, problem.Action);
        Assert.Null(problem.DamagedBytesFile);
        Assert.StartsWith("ChecksumMismatch in ", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_TornTailOnly_ReportsTruncateWithoutDamage()
    {
        using var dir = new WalTestDirectory();
        await using (var log = dir.Open(s_options))
        {
            await log.AppendEventAsync(WalTestRecords.Event());
        }

        var segment = Assert.Single(dir.SegmentFiles());
        var bytes = await File.ReadAllBytesAsync(segment);
        await File.WriteAllBytesAsync(segment, bytes.AsSpan(0, bytes.Length - 3).ToArray());

        var inspection = WriteAheadLogInspector.Inspect(dir.Path);

        Assert.False(inspection.HasDamage);
        var problem = Assert.Single(inspection.Problems);
        Assert.Equal(WalProblemKind.TornTail, problem.Kind);
        Assert.Equal(WalRecoveryAction.Truncate, problem.Action);
        Assert.Equal(0, inspection.PendingEvents);
    }

    [Fact]
    public async Task Inspect_UndamagedLog_ReportsNoProblems()
    {
        using var dir = new WalTestDirectory();
        await using (var log = dir.Open(s_options))
        {
            await log.AppendEventAsync(WalTestRecords.Event());
        }

        var inspection = WriteAheadLogInspector.Inspect(dir.Path);

        Assert.False(inspection.HasDamage);
        Assert.Empty(inspection.Problems);
        Assert.Equal(1, inspection.PendingEvents);
    }

    [Fact]
    public void Inspect_MissingDirectory_ThrowsDirectoryNotFound()
    {
        var path = Path.Combine(Path.GetTempPath(), "busbar-wal-tests", Guid.NewGuid().ToString("N"));

        Assert.Throws<DirectoryNotFoundException>(() => WriteAheadLogInspector.Inspect(path));
    }
}
