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
    public async Task Open_ImplausibleLengthInMiddleSegment_SkipsRestOfSegmentAndRecoversLaterSegments()
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
        Assert.Equal(WalFormat.SegmentHeaderSize, problem.Offset);
        Assert.Equal(bytes.Length - WalFormat.SegmentHeaderSize, problem.ByteCount);
        Assert.Contains(records[^1].EventId, reopened.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
        Assert.DoesNotContain(records[0].EventId, reopened.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
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
