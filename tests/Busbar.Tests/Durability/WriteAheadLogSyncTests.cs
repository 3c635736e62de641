using Busbar.Durability;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Durability;

/// <summary>What each flush mode makes durable, checked against a model of what a power loss keeps.</summary>
public class WriteAheadLogSyncTests
{
    [Theory]
    [InlineData(WalFlushMode.Always)]
    [InlineData(WalFlushMode.Interval)]
    [InlineData(WalFlushMode.None)]
    public async Task Compaction_AnyFlushMode_DeletesNothingWhileItsCopiesAreNotDurable(WalFlushMode mode)
    {
        using var dir = new WalTestDirectory();
        var storage = new RecordingWalStorage();
        var options = new WriteAheadLogOptions { SegmentSize = 64 * 1024, FlushMode = mode, FlushInterval = TimeSpan.FromHours(1) };
        var unfinished = new List<Guid>();
        await using (var log = Open(dir, options, storage))
        {
            for (var i = 0; i < 3000; i++)
            {
                var record = WalTestRecords.Event(payloadBytes: 200);
                await log.AppendEventAsync(record);
                if (i % 25 == 0)
                    unfinished.Add(record.EventId);
                else
                    await log.AppendHandlerFinishedAsync(record.EventId, "billing", WalHandlerStatus.Succeeded, 1);
            }
        }

        Assert.True(storage.Deletions > 5, $"compaction deleted only {storage.Deletions} segments");
        Assert.Empty(storage.Violations);
        await using var reopened = dir.Open(options);
        Assert.Equal(unfinished.Order(), reopened.Recovery.UnfinishedEvents.Select(p => p.Event.EventId).Order());
    }

    [Fact]
    public async Task AppendEvent_FlushModeInterval_SyncsNewSegmentsDirectoryEntryAtTheNextTick()
    {
        using var dir = new WalTestDirectory();
        var storage = new RecordingWalStorage();
        var time = new FakeTimeProvider();
        await using var log = Open(dir, new WriteAheadLogOptions { FlushMode = WalFlushMode.Interval, FlushInterval = TimeSpan.FromMilliseconds(100) }, storage, time);

        await log.AppendEventAsync(WalTestRecords.Event());
        Assert.Equal(1, storage.UnsyncedEntries);

        time.Advance(TimeSpan.FromMilliseconds(100));

        await TestTimeout.Until(() => storage.UnsyncedEntries == 0, what: "the directory entry of the new segment is synced");
        Assert.Contains(log.Directory, storage.DirectoryFlushes);
    }

    [Fact]
    public async Task Dispose_FlushModeNone_SyncsTheDirectory()
    {
        using var dir = new WalTestDirectory();
        var storage = new RecordingWalStorage();
        var log = Open(dir, new WriteAheadLogOptions { FlushMode = WalFlushMode.None }, storage);
        await log.AppendEventAsync(WalTestRecords.Event());
        Assert.Equal(1, storage.UnsyncedEntries);

        await log.DisposeAsync();

        Assert.Equal(0, storage.UnsyncedEntries);
    }

    [Fact]
    public async Task AppendEvent_DirectoryFsyncFailsUnderAlways_FailsTheAppendAndTheLog()
    {
        using var dir = new WalTestDirectory();
        var storage = new RecordingWalStorage();
        await using var log = Open(dir, new WriteAheadLogOptions(), storage);
        storage.FailDirectoryFlush = true;

        var first = await Assert.ThrowsAsync<IOException>(async () => await log.AppendEventAsync(WalTestRecords.Event()));
        var next = await Assert.ThrowsAsync<InvalidOperationException>(async () => await log.AppendEventAsync(WalTestRecords.Event()));

        Assert.Contains("injected", first.Message, StringComparison.Ordinal);
        Assert.Contains("no longer accepts appends", next.Message, StringComparison.Ordinal);
        Assert.Same(first, next.InnerException);
    }

    [Fact]
    public async Task FlushTimer_DirectoryFsyncFailsUnderInterval_FailsTheLog()
    {
        using var dir = new WalTestDirectory();
        var storage = new RecordingWalStorage();
        var time = new FakeTimeProvider();
        await using var log = Open(dir, new WriteAheadLogOptions { FlushMode = WalFlushMode.Interval, FlushInterval = TimeSpan.FromMilliseconds(100) }, storage, time);
        await log.AppendEventAsync(WalTestRecords.Event());
        storage.FailDirectoryFlush = true;

        time.Advance(TimeSpan.FromMilliseconds(100));

        await TestTimeout.Until(() => Fails(log), what: "the log fails after the directory fsync failed");
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await log.AppendEventAsync(WalTestRecords.Event()));
        Assert.IsType<IOException>(ex.InnerException);
    }

    [Fact]
    public async Task Open_MissingDirectory_SyncsEachParentThatGainedAnEntry()
    {
        using var dir = new WalTestDirectory();
        var nested = Path.Combine(dir.Path, "a", "b");
        var storage = new RecordingWalStorage();

        await using var log = WriteAheadLog.Open(nested, new WriteAheadLogOptions(), TimeProvider.System, NullLogger.Instance, storage);

        Assert.Equal(
            [Path.GetDirectoryName(dir.Path)!, dir.Path, Path.Combine(dir.Path, "a")],
            storage.DirectoryFlushes.Take(3));
    }

    private static bool Fails(WriteAheadLog log)
    {
        try
        {
            log.AppendHandlerFinishedAsync(Guid.NewGuid(), "billing", WalHandlerStatus.Succeeded, 1).AsTask().GetAwaiter().GetResult();
            return false;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    private static WriteAheadLog Open(WalTestDirectory dir, WriteAheadLogOptions options, RecordingWalStorage storage, TimeProvider? time = null) =>
        WriteAheadLog.Open(dir.Path, options, time ?? TimeProvider.System, NullLogger.Instance, storage);
}
