using Busbar.Durability;

namespace Busbar.Tests.Durability;

public class WalRecoveryTests
{
    private static readonly WriteAheadLogOptions s_options = new() { FlushMode = WalFlushMode.None };

    [Fact]
    public async Task Open_LastRecordTruncatedAtEveryOffset_TruncatesTornTailAndRecoversEarlierRecords()
    {
        using var dir = new WalTestDirectory();
        var (records, segment, lastStart) = await WriteThreeEventsAsync(dir);
        var original = await File.ReadAllBytesAsync(segment);

        for (var cut = lastStart; cut < original.Length; cut++)
        {
            await File.WriteAllBytesAsync(segment, original.AsSpan(0, cut).ToArray());

            await using (var log = dir.Open(s_options))
            {
                Assert.Equal(records[..2].Select(r => r.EventId), log.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
                if (cut == lastStart)
                {
                    Assert.Empty(log.Recovery.Problems);
                }
                else
                {
                    var problem = Assert.Single(log.Recovery.Problems);
                    Assert.Equal(WalProblemKind.TornTail, problem.Kind);
                    Assert.Equal(Path.GetFileName(segment), problem.SegmentFileName);
                    Assert.Equal(lastStart, problem.Offset);
                    Assert.Equal(cut - lastStart, problem.ByteCount);
                }
            }

            Assert.Equal(lastStart, new FileInfo(segment).Length);
        }
    }

    [Fact]
    public async Task Open_LastRecordChecksumBroken_ReportsTornTailAndTruncates()
    {
        using var dir = new WalTestDirectory();
        var (records, segment, lastStart) = await WriteThreeEventsAsync(dir);
        var bytes = await File.ReadAllBytesAsync(segment);
        bytes[^6] ^= 0xFF;
        await File.WriteAllBytesAsync(segment, bytes);

        await using var log = dir.Open(s_options);

        var problem = Assert.Single(log.Recovery.Problems);
        Assert.Equal(WalProblemKind.TornTail, problem.Kind);
        Assert.Equal(lastStart, problem.Offset);
        Assert.Equal(2, log.Recovery.UnfinishedEvents.Count);
        Assert.Equal(lastStart, new FileInfo(segment).Length);
        Assert.DoesNotContain(records[2].EventId, log.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
    }

    [Fact]
    public async Task Open_ByteFlippedInMiddleRecord_ReportsChecksumMismatchSkipsItAndRecoversLaterRecords()
    {
        using var dir = new WalTestDirectory();
        var (records, segment, _) = await WriteThreeEventsAsync(dir);
        var secondStart = WalFormat.SegmentHeaderSize + WalRecordCodec.GetFrameLength(records[0]);
        var bytes = await File.ReadAllBytesAsync(segment);
        bytes[secondStart + 40] ^= 0x01;
        await File.WriteAllBytesAsync(segment, bytes);

        await using var log = dir.Open(s_options);

        var problem = Assert.Single(log.Recovery.Problems);
        Assert.Equal(WalProblemKind.ChecksumMismatch, problem.Kind);
        Assert.Equal(Path.GetFileName(segment), problem.SegmentFileName);
        Assert.Equal(secondStart, problem.Offset);
        Assert.Equal(WalRecordCodec.GetFrameLength(records[1]), problem.ByteCount);
        Assert.Equal([records[0].EventId, records[2].EventId], log.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
        Assert.Equal(bytes.Length, new FileInfo(segment).Length);
    }

    [Fact]
    public async Task Open_ImplausibleLengthInMiddleSegment_SkipsOnlyThatRecordAndRecoversTheRest()
    {
        using var dir = new WalTestDirectory();
        var options = new WriteAheadLogOptions { SegmentSize = 64 * 1024, FlushMode = WalFlushMode.None };
        var records = Enumerable.Range(0, 150).Select(_ => WalTestRecords.Event(payloadBytes: 1000)).ToList();
        await using (var log = dir.Open(options))
        {
            foreach (var record in records)
            {
                await log.AppendEventAsync(record);
            }
        }

        var first = dir.SegmentFiles()[0];
        var bytes = await File.ReadAllBytesAsync(first);
        BitConverter.TryWriteBytes(bytes.AsSpan(WalFormat.SegmentHeaderSize), -5);
        await File.WriteAllBytesAsync(first, bytes);

        await using var reopened = dir.Open(options);

        var problem = Assert.Single(reopened.Recovery.Problems);
        Assert.Equal(WalProblemKind.CorruptSpan, problem.Kind);
        Assert.Equal(Path.GetFileName(first), problem.SegmentFileName);
        Assert.Equal(WalFormat.SegmentHeaderSize, problem.Offset);
        Assert.Equal(WalRecordCodec.GetFrameLength(records[0]), problem.ByteCount);
        Assert.Equal(records.Skip(1).Select(r => r.EventId), reopened.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(-8)]
    [InlineData(5000)]
    [InlineData(-1_000_000)]
    public async Task Open_LengthFieldOfRecord3Of10Damaged_SkipsThatRecordAndRecoversTheSevenAfterIt(int delta)
    {
        using var dir = new WalTestDirectory();
        var (records, segment, starts) = await WriteEventsAsync(dir, 10);
        var bytes = await File.ReadAllBytesAsync(segment);
        var third = starts[2];
        var frame3 = WalRecordCodec.GetFrameLength(records[2]);
        BitConverter.TryWriteBytes(bytes.AsSpan(third), BitConverter.ToInt32(bytes, third) + delta);
        await File.WriteAllBytesAsync(segment, bytes);

        await using var log = dir.Open(s_options);

        Assert.Equal(records.Where((_, i) => i != 2).Select(r => r.EventId), log.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
        var problem = Assert.Single(log.Recovery.Problems);
        Assert.Equal(WalProblemKind.CorruptSpan, problem.Kind);
        Assert.Equal(WalRecoveryAction.Skip, problem.Action);
        Assert.Equal(third, problem.Offset);
        Assert.Equal(frame3, problem.ByteCount);
        Assert.Equal(bytes.Length, new FileInfo(segment).Length);
        Assert.Equal(Path.Combine(Path.GetFullPath(dir.Path), Path.GetFileName(segment) + "." + third + ".damaged"), problem.DamagedBytesFile);
        Assert.Equal(bytes.AsSpan(third, frame3).ToArray(), await File.ReadAllBytesAsync(problem.DamagedBytesFile!));
    }

    [Fact]
    public async Task Open_TwoAdjacentRecordsWithDamagedBodies_HeaderChecksumReportsEachExactly()
    {
        using var dir = new WalTestDirectory();
        var (records, segment, starts) = await WriteEventsAsync(dir, 6);
        var bytes = await File.ReadAllBytesAsync(segment);
        bytes[starts[2] + WalFormat.FrameHeaderSize + 3] ^= 0x20;
        bytes[starts[3] + WalFormat.FrameHeaderSize + 3] ^= 0x20;
        await File.WriteAllBytesAsync(segment, bytes);

        await using var log = dir.Open(s_options);

        Assert.Equal(
            [(WalProblemKind.ChecksumMismatch, starts[2], WalRecordCodec.GetFrameLength(records[2])), (WalProblemKind.ChecksumMismatch, starts[3], WalRecordCodec.GetFrameLength(records[3]))],
            log.Recovery.Problems.Select(p => (p.Kind, (int)p.Offset, (int)p.ByteCount)));
        Assert.Equal([records[0].EventId, records[1].EventId, records[4].EventId, records[5].EventId], log.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(int.MaxValue - 8)]
    [InlineData(int.MinValue)]
    [InlineData(-1)]
    public async Task Open_LengthFieldNearIntLimits_ReportsProblemInsteadOfThrowing(int length)
    {
        using var dir = new WalTestDirectory();
        var (records, segment, starts) = await WriteEventsAsync(dir, 10);
        var bytes = await File.ReadAllBytesAsync(segment);
        BitConverter.TryWriteBytes(bytes.AsSpan(starts[2]), length);
        await File.WriteAllBytesAsync(segment, bytes);

        var inspection = WriteAheadLog.Inspect(dir.Path);
        await using var log = dir.Open(s_options);

        Assert.Equal(9, inspection.UnfinishedEvents.Count);
        Assert.Equal(records.Where((_, i) => i != 2).Select(r => r.EventId), log.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
        Assert.Equal(starts[2], Assert.Single(log.Recovery.Problems).Offset);
    }

    [Fact]
    public async Task Open_LastRecordLengthDamaged_TruncatesAsTornTailAndKeepsCutBytesInSideFile()
    {
        using var dir = new WalTestDirectory();
        var (records, segment, starts) = await WriteEventsAsync(dir, 4);
        var bytes = await File.ReadAllBytesAsync(segment);
        BitConverter.TryWriteBytes(bytes.AsSpan(starts[3]), 3);
        await File.WriteAllBytesAsync(segment, bytes);

        await using var log = dir.Open(s_options);

        var problem = Assert.Single(log.Recovery.Problems);
        Assert.Equal(WalProblemKind.TornTail, problem.Kind);
        Assert.Equal(WalRecoveryAction.Truncate, problem.Action);
        Assert.Equal(starts[3], new FileInfo(segment).Length);
        Assert.Equal(bytes.AsSpan(starts[3]).ToArray(), await File.ReadAllBytesAsync(problem.DamagedBytesFile!));
        Assert.Equal(records[..3].Select(r => r.EventId), log.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
    }

    [Fact]
    public async Task Open_ZeroFilledPageInsideSegment_SkipsOnlyTheRecordsItOverwrote()
    {
        using var dir = new WalTestDirectory();
        var (records, segment, starts) = await WriteEventsAsync(dir, 30);
        var bytes = await File.ReadAllBytesAsync(segment);
        const int PageStart = 512, PageEnd = 1024;
        bytes.AsSpan(PageStart, PageEnd - PageStart).Clear();
        await File.WriteAllBytesAsync(segment, bytes);

        await using var log = dir.Open(s_options);

        var survivors = records.Where((r, i) => starts[i] + WalRecordCodec.GetFrameLength(r) <= PageStart || starts[i] >= PageEnd).Select(r => r.EventId).ToList();
        Assert.True(survivors.Count >= 25);
        Assert.Equal(survivors, log.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
        Assert.All(log.Recovery.Problems, p => Assert.Contains(p.Kind, new[] { WalProblemKind.ChecksumMismatch, WalProblemKind.CorruptSpan }));
    }

    [Fact]
    public async Task Open_DamagedSegmentHeaderWithValidRecords_RecoversTheRecords()
    {
        using var dir = new WalTestDirectory();
        var (records, segment, _) = await WriteEventsAsync(dir, 3);
        var bytes = await File.ReadAllBytesAsync(segment);
        bytes[1] ^= 0x40;
        await File.WriteAllBytesAsync(segment, bytes);

        await using var log = dir.Open(s_options);

        var problem = Assert.Single(log.Recovery.Problems);
        Assert.Equal(WalProblemKind.InvalidSegmentHeader, problem.Kind);
        Assert.Equal(WalFormat.SegmentHeaderSize, problem.ByteCount);
        Assert.Equal(records.Select(r => r.EventId), log.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
    }

    [Fact]
    public async Task Open_StrictModeWithDamagedMiddleRecord_ThrowsWithProblemsAndModifiesNothing()
    {
        using var dir = new WalTestDirectory();
        var (_, segment, starts) = await WriteEventsAsync(dir, 5);
        var bytes = await File.ReadAllBytesAsync(segment);
        bytes[starts[1] + 40] ^= 0x01;
        await File.WriteAllBytesAsync(segment, await TearAsync(bytes));
        var before = dir.Snapshot();

        var ex = Assert.Throws<WalCorruptionException>(() => dir.Open(s_options with { RecoveryMode = WalRecoveryMode.Strict }));

        Assert.Equal([WalProblemKind.ChecksumMismatch, WalProblemKind.TornTail], ex.Problems.Select(p => p.Kind));
        Assert.Equal(starts[1], ex.Problems[0].Offset);
        Assert.All(ex.Problems, p => Assert.Null(p.DamagedBytesFile));
        Assert.Contains("Strict", ex.Message, StringComparison.Ordinal);
        var after = dir.Snapshot();
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        Assert.All(before, pair => Assert.Equal(pair.Value, after[pair.Key]));
        await using var reopened = dir.Open(s_options);
        Assert.Equal(4 - 1, reopened.Recovery.UnfinishedEvents.Count);
    }

    [Fact]
    public async Task Open_StrictModeWithTornTailOnly_TruncatesAndOpens()
    {
        using var dir = new WalTestDirectory();
        var (_, segment, starts) = await WriteEventsAsync(dir, 3);
        await File.WriteAllBytesAsync(segment, await TearAsync(await File.ReadAllBytesAsync(segment)));

        await using var log = dir.Open(s_options with { RecoveryMode = WalRecoveryMode.Strict });

        Assert.Equal(WalProblemKind.TornTail, Assert.Single(log.Recovery.Problems).Kind);
        Assert.Equal(starts[2], new FileInfo(segment).Length);
        Assert.Equal(2, log.Recovery.UnfinishedEvents.Count);
    }

    [Fact]
    public async Task Open_StrictModeOnBus_BuildThrowsWalCorruptionException()
    {
        using var dir = new WalTestDirectory();
        var (_, segment, starts) = await WriteEventsAsync(dir, 3);
        var bytes = await File.ReadAllBytesAsync(segment);
        bytes[starts[0] + 30] ^= 0x10;
        await File.WriteAllBytesAsync(segment, bytes);

        var builder = new EventBusBuilder().UseWriteAheadLog(dir.Path, new WriteAheadLogOptions { RecoveryMode = WalRecoveryMode.Strict });

        var ex = Assert.Throws<WalCorruptionException>(() => builder.Build());
        Assert.Equal(WalProblemKind.ChecksumMismatch, Assert.Single(ex.Problems).Kind);
    }

    [Fact]
    public async Task Open_LastSegmentShorterThanHeader_RemovesItAndReportsTornTail()
    {
        using var dir = new WalTestDirectory();
        var (records, segment, _) = await WriteThreeEventsAsync(dir);
        var torn = Path.Combine(dir.Path, WalFormat.SegmentFileName(99));
        await File.WriteAllBytesAsync(torn, "BBW"u8.ToArray());

        await using var log = dir.Open(s_options);

        var problem = Assert.Single(log.Recovery.Problems);
        Assert.Equal(WalProblemKind.TornTail, problem.Kind);
        Assert.False(File.Exists(torn));
        Assert.Equal(records.Length, log.Recovery.UnfinishedEvents.Count);
        await log.AppendEventAsync(WalTestRecords.Event());
        Assert.True(File.Exists(segment));
    }

    [Fact]
    public async Task Inspect_Directory_ReportsSegmentsUnfinishedDeadLettersAndProblemsWithoutModifying()
    {
        using var dir = new WalTestDirectory();
        var pending = WalTestRecords.Event(subscriptions: ["billing", "shipping"]);
        var failed = WalTestRecords.Event(subscriptions: ["billing"]);
        var deadLetter = WalTestRecords.DeadLetter(failed.EventId, "billing");
        await using (var log = dir.Open(s_options))
        {
            await log.AppendEventAsync(pending);
            await log.AppendHandlerFinishedAsync(pending.EventId, "shipping", WalHandlerStatus.Succeeded, 1);
            await log.AppendEventAsync(failed);
            await log.AppendDeadLetterAsync(deadLetter);
            await log.AppendEventAsync(WalTestRecords.Event());
        }

        var segment = Assert.Single(dir.SegmentFiles());
        var bytes = await File.ReadAllBytesAsync(segment);
        await File.WriteAllBytesAsync(segment, bytes.AsSpan(0, bytes.Length - 3).ToArray());
        var before = dir.Snapshot();

        var inspection = WriteAheadLog.Inspect(dir.Path);

        var info = Assert.Single(inspection.Segments);
        Assert.Equal(Path.GetFileName(segment), info.FileName);
        Assert.Equal(bytes.Length - 3, info.SizeBytes);
        Assert.Equal(2, info.EventRecords);
        Assert.Equal(1, info.HandlerFinishedRecords);
        Assert.Equal(1, info.DeadLetterRecords);
        Assert.Equal(0, info.DeadLetterRedrivenRecords);
        var unfinished = Assert.Single(inspection.UnfinishedEvents);
        Assert.Equal(pending.EventId, unfinished.Event.EventId);
        Assert.Equal(["billing"], unfinished.PendingSubscriptions);
        var recovered = Assert.Single(inspection.DeadLetters);
        Assert.Equal(deadLetter, recovered.DeadLetter);
        Assert.Equal(failed.Name, recovered.Event.Name);
        Assert.Equal(WalProblemKind.TornTail, Assert.Single(inspection.Problems).Kind);
        var after = dir.Snapshot();
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        Assert.All(before, pair => Assert.Equal(pair.Value, after[pair.Key]));
    }

    [Fact]
    public async Task Inspect_WhileLogIsOpen_ReadsWithoutTakingTheLock()
    {
        using var dir = new WalTestDirectory();
        await using var log = dir.Open(s_options);
        await log.AppendEventAsync(WalTestRecords.Event());

        var inspection = WriteAheadLog.Inspect(dir.Path);

        Assert.Single(inspection.UnfinishedEvents);
    }

    [Fact]
    public void Inspect_MissingDirectory_ThrowsDirectoryNotFound()
    {
        var path = Path.Combine(Path.GetTempPath(), "busbar-wal-tests", Guid.NewGuid().ToString("N"));

        var ex = Assert.Throws<DirectoryNotFoundException>(() => WriteAheadLog.Inspect(path));

        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    /// <summary>Cuts the last record in half, as a crash mid-write does.</summary>
    private static Task<byte[]> TearAsync(byte[] bytes) => Task.FromResult(bytes.AsSpan(0, bytes.Length - 20).ToArray());

    private static async Task<(WalEventRecord[] Records, string Segment, int[] Starts)> WriteEventsAsync(WalTestDirectory dir, int count)
    {
        var records = Enumerable.Range(0, count).Select(i => WalTestRecords.Event(payloadBytes: 40 + (i * 7))).ToArray();
        await using (var log = dir.Open(s_options))
        {
            foreach (var record in records)
            {
                await log.AppendEventAsync(record);
            }
        }

        var starts = new int[count];
        var offset = WalFormat.SegmentHeaderSize;
        for (var i = 0; i < count; i++)
        {
            starts[i] = offset;
            offset += WalRecordCodec.GetFrameLength(records[i]);
        }

        return (records, Assert.Single(dir.SegmentFiles()), starts);
    }

    private static async Task<(WalEventRecord[] Records, string Segment, int LastStart)> WriteThreeEventsAsync(WalTestDirectory dir)
    {
        var records = new[] { WalTestRecords.Event(), WalTestRecords.Event(), WalTestRecords.Event(payloadBytes: 100) };
        await using (var log = dir.Open(s_options))
        {
            foreach (var record in records)
            {
                await log.AppendEventAsync(record);
            }
        }

        var segment = Assert.Single(dir.SegmentFiles());
        var length = (int)new FileInfo(segment).Length;
        return (records, segment, length - WalRecordCodec.GetFrameLength(records[2]));
    }
}
