using Busbar.Durability;

namespace Busbar.Tests.Durability;

public class WriteAheadLogTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Open_Reopen_RecoversUnfinishedAndExcludesFinished()
    {
        using var dir = new WalTestDirectory();
        var finished = WalTestRecords.Event();
        var unfinished = WalTestRecords.Event();
        await using (var log = dir.Open())
        {
            Assert.Empty(log.Recovery.UnfinishedEvents);
            await log.AppendEventAsync(finished);
            await log.AppendEventAsync(unfinished);
            await log.AppendHandlerFinishedAsync(finished.EventId, "billing", WalHandlerStatus.Succeeded, 1);
        }

        await using var reopened = dir.Open();

        var pending = Assert.Single(reopened.Recovery.UnfinishedEvents);
        WalTestRecords.AssertEqual(unfinished, pending.Event);
        Assert.Equal(["billing"], pending.PendingSubscriptions);
        Assert.Empty(reopened.Recovery.Problems);
    }

    [Fact]
    public async Task Open_PartiallyFinishedEvent_RecoversOnlyPendingSubscriptions()
    {
        using var dir = new WalTestDirectory();
        var record = WalTestRecords.Event(subscriptions: ["billing", "shipping", "audit"]);
        await using (var log = dir.Open())
        {
            await log.AppendEventAsync(record);
            await log.AppendHandlerFinishedAsync(record.EventId, "shipping", WalHandlerStatus.Failed, 3);
        }

        await using var reopened = dir.Open();

        var pending = Assert.Single(reopened.Recovery.UnfinishedEvents);
        Assert.Equal(["billing", "audit"], pending.PendingSubscriptions);
    }

    [Fact]
    public async Task Open_DeadLetter_SurvivesReopenUntilRedriven()
    {
        using var dir = new WalTestDirectory();
        var record = WalTestRecords.Event(subscriptions: ["billing"]);
        var deadLetter = WalTestRecords.DeadLetter(record.EventId, "billing");
        await using (var log = dir.Open())
        {
            await log.AppendEventAsync(record);
            await log.AppendDeadLetterAsync(deadLetter);
        }

        await using (var log = dir.Open())
        {
            Assert.Empty(log.Recovery.UnfinishedEvents);
            var recovered = Assert.Single(log.Recovery.DeadLetters);
            Assert.Equal(deadLetter, recovered.DeadLetter);
            WalTestRecords.AssertEqual(record, recovered.Event);
            await log.AppendDeadLetterRedrivenAsync(deadLetter.DeadLetterId);
        }

        await using var reopened = dir.Open();

        Assert.Empty(reopened.Recovery.DeadLetters);
        Assert.Empty(reopened.Recovery.UnfinishedEvents);
    }

    [Fact]
    public async Task AppendDeadLetter_UnknownEvent_ThrowsInvalidOperation()
    {
        using var dir = new WalTestDirectory();
        await using var log = dir.Open();

        await Assert.ThrowsAsync<InvalidOperationException>(() => log.AppendDeadLetterAsync(WalTestRecords.DeadLetter(Guid.NewGuid(), "billing")).AsTask());
    }

    [Fact]
    public async Task Open_SameDirectoryTwice_ThrowsWalLockedExceptionUntilFirstDisposed()
    {
        using var dir = new WalTestDirectory();
        var first = dir.Open();

        var ex = Assert.Throws<WalLockedException>(() => dir.Open());
        Assert.Contains("already in use by another process or bus (lock file busbar.lock)", ex.Message, StringComparison.Ordinal);
        Assert.Contains(dir.Path, ex.Message, StringComparison.Ordinal);

        await first.DisposeAsync();
        await using var second = dir.Open();
        Assert.Empty(second.Recovery.Problems);
    }

    [Fact]
    public async Task AppendEvent_SixteenConcurrentAppendersWithAlways_ShareFsyncs()
    {
        using var dir = new WalTestDirectory();
        using var cts = new CancellationTokenSource(s_timeout);
        const int appenders = 16;
        const int rounds = 50;
        var tasks = new Task[appenders];
        await using (var log = dir.Open(new WriteAheadLogOptions { FlushMode = WalFlushMode.Always }))
        {
            // Each round starts 16 appends before awaiting any, so they are in flight together whatever the
            // scheduler does; all of them must complete, and they must not cost one fsync each.
            for (var round = 0; round < rounds; round++)
            {
                for (var i = 0; i < appenders; i++)
                {
                    tasks[i] = log.AppendEventAsync(WalTestRecords.Event(), cts.Token).AsTask();
                }

                await Task.WhenAll(tasks).WaitAsync(cts.Token);
            }

            Assert.InRange(log.FsyncCount, rounds, appenders * rounds / 4);
        }

        await using var reopened = dir.Open();
        Assert.Equal(appenders * rounds, reopened.Recovery.UnfinishedEvents.Count);
    }

    [Fact]
    public async Task AppendEvent_SixteenFreeRunningAppendersWithAlways_AllCompleteAndRecover()
    {
        using var dir = new WalTestDirectory();
        using var cts = new CancellationTokenSource(s_timeout);
        const int appenders = 16;
        const int perAppender = 100;
        await using (var log = dir.Open(new WriteAheadLogOptions { FlushMode = WalFlushMode.Always }))
        {
            var tasks = Enumerable.Range(0, appenders).Select(_ => Task.Run(async () =>
            {
                for (var i = 0; i < perAppender; i++)
                {
                    await log.AppendEventAsync(WalTestRecords.Event(), cts.Token);
                }
            })).ToArray();

            await Task.WhenAll(tasks).WaitAsync(cts.Token);
            Assert.InRange(log.FsyncCount, 1, appenders * perAppender);
        }

        await using var reopened = dir.Open();
        Assert.Equal(appenders * perAppender, reopened.Recovery.UnfinishedEvents.Count);
    }

    [Fact]
    public async Task AppendEvent_FlushModeAlways_CompletesOnlyAfterFsync()
    {
        using var dir = new WalTestDirectory();
        await using var log = dir.Open();

        await log.AppendEventAsync(WalTestRecords.Event());

        Assert.True(log.FsyncCount >= 1);
    }

    [Fact]
    public async Task AppendEvent_FlushModeInterval_FsyncsWhenTimerFires()
    {
        using var dir = new WalTestDirectory();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        await using var log = dir.Open(new WriteAheadLogOptions { FlushMode = WalFlushMode.Interval, FlushInterval = TimeSpan.FromMilliseconds(100) }, time);

        await log.AppendEventAsync(WalTestRecords.Event());
        Assert.Equal(0, log.FsyncCount);

        time.Advance(TimeSpan.FromMilliseconds(100));

        Assert.True(SpinWait.SpinUntil(() => log.FsyncCount == 1, s_timeout));
    }

    [Fact]
    public async Task AppendEvent_FlushModeNone_NeverFsyncsUntilDispose()
    {
        using var dir = new WalTestDirectory();
        var log = dir.Open(new WriteAheadLogOptions { FlushMode = WalFlushMode.None });

        for (var i = 0; i < 50; i++)
        {
            await log.AppendEventAsync(WalTestRecords.Event());
        }

        Assert.Equal(0, log.FsyncCount);
        await log.DisposeAsync();
        Assert.Equal(1, log.FsyncCount);
    }

    [Fact]
    public async Task AppendEvent_OversizedRecord_ThrowsAndWritesNothing()
    {
        using var dir = new WalTestDirectory();
        var options = new WriteAheadLogOptions { MaxRecordSize = 4096 };
        await using (var log = dir.Open(options))
        {
            var ex = await Assert.ThrowsAsync<ArgumentException>(() => log.AppendEventAsync(WalTestRecords.Event(payloadBytes: 5000)).AsTask());
            Assert.Contains("MaxRecordSize", ex.Message, StringComparison.Ordinal);
            Assert.Empty(dir.SegmentFiles());
        }

        await using var reopened = dir.Open(options);
        Assert.Empty(reopened.Recovery.UnfinishedEvents);
    }

    [Fact]
    public async Task AppendEvent_BeyondSegmentSize_RollsSegmentsAndRecoversAll()
    {
        using var dir = new WalTestDirectory();
        var options = new WriteAheadLogOptions { SegmentSize = 64 * 1024, FlushMode = WalFlushMode.None };
        var records = Enumerable.Range(0, 200).Select(_ => WalTestRecords.Event(payloadBytes: 1000)).ToList();
        await using (var log = dir.Open(options))
        {
            foreach (var record in records)
            {
                await log.AppendEventAsync(record);
            }

            Assert.True(log.SegmentCount >= 3);
        }

        var files = dir.SegmentFiles();
        Assert.True(files.Length >= 3);
        Assert.All(files, f => Assert.InRange(new FileInfo(f).Length, 1, options.SegmentSize));

        await using var reopened = dir.Open(options);
        Assert.Equal(records.Select(r => r.EventId).Order(), reopened.Recovery.UnfinishedEvents.Select(p => p.Event.EventId).Order());
    }

    [Fact]
    public async Task Compaction_200kFinishedEvents_KeepsDiskBounded()
    {
        using var dir = new WalTestDirectory();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var options = new WriteAheadLogOptions { SegmentSize = 64 * 1024, FlushMode = WalFlushMode.None };
        const int total = 200_000;
        const int window = 200;
        var bound = 5 * options.SegmentSize;
        var tasks = new Task[window];
        await using (var log = dir.Open(options))
        {
            for (var start = 0; start < total; start += window)
            {
                var records = new WalEventRecord[window];
                for (var i = 0; i < window; i++)
                {
                    records[i] = WalTestRecords.Event(subscriptions: ["billing"], payloadBytes: 200);
                    tasks[i] = log.AppendEventAsync(records[i], cts.Token).AsTask();
                }

                await Task.WhenAll(tasks);
                for (var i = 0; i < window; i++)
                {
                    tasks[i] = log.AppendHandlerFinishedAsync(records[i].EventId, "billing", WalHandlerStatus.Succeeded, 1, cts.Token).AsTask();
                }

                await Task.WhenAll(tasks);
                if (start % 20_000 == 0)
                {
                    Assert.InRange(dir.TotalSegmentBytes(), 0, bound);
                }
            }

            Assert.InRange(dir.TotalSegmentBytes(), 0, bound);
        }

        Assert.InRange(dir.TotalSegmentBytes(), 0, bound);
        await using var reopened = dir.Open(options);
        Assert.Empty(reopened.Recovery.UnfinishedEvents);
    }

    [Fact]
    public async Task Compaction_StuckEventsAndDeadLettersUnderLoad_KeepsDiskBoundedAndRecoversThem()
    {
        using var dir = new WalTestDirectory();
        var options = new WriteAheadLogOptions { SegmentSize = 64 * 1024, FlushMode = WalFlushMode.None };
        var stuck = WalTestRecords.Event(subscriptions: ["billing", "shipping"]);
        var deadLettered = WalTestRecords.Event(subscriptions: ["billing"]);
        var deadLetter = WalTestRecords.DeadLetter(deadLettered.EventId, "billing");
        await using (var log = dir.Open(options))
        {
            await log.AppendEventAsync(stuck);
            await log.AppendEventAsync(deadLettered);
            await log.AppendDeadLetterAsync(deadLetter);
            await log.AppendHandlerFinishedAsync(stuck.EventId, "shipping", WalHandlerStatus.Succeeded, 1);
            for (var i = 0; i < 20_000; i++)
            {
                var record = WalTestRecords.Event(payloadBytes: 200);
                await log.AppendEventAsync(record);
                await log.AppendHandlerFinishedAsync(record.EventId, "billing", WalHandlerStatus.Succeeded, 1);
            }

            Assert.InRange(dir.TotalSegmentBytes(), 0, 5 * options.SegmentSize);
        }

        await using var reopened = dir.Open(options);
        var pending = Assert.Single(reopened.Recovery.UnfinishedEvents);
        Assert.Equal(stuck.EventId, pending.Event.EventId);
        Assert.Equal(["billing"], pending.PendingSubscriptions);
        var recovered = Assert.Single(reopened.Recovery.DeadLetters);
        Assert.Equal(deadLetter, recovered.DeadLetter);
        Assert.Equal(deadLettered.Payload.ToArray(), recovered.Event.Payload.ToArray());
        Assert.Empty(reopened.Recovery.Problems);
    }

    [Fact]
    public async Task Open_AfterAllWorkFinished_DeletesOldSegments()
    {
        using var dir = new WalTestDirectory();
        var options = new WriteAheadLogOptions { SegmentSize = 64 * 1024, FlushMode = WalFlushMode.None };
        var records = Enumerable.Range(0, 300).Select(_ => WalTestRecords.Event(payloadBytes: 1000)).ToList();
        await using (var log = dir.Open(options))
        {
            foreach (var record in records)
            {
                await log.AppendEventAsync(record);
            }
        }

        Assert.True(dir.SegmentFiles().Length > 3);
        await using (var log = dir.Open(options))
        {
            foreach (var record in records)
            {
                await log.AppendHandlerFinishedAsync(record.EventId, "billing", WalHandlerStatus.Succeeded, 1);
            }
        }

        await using var reopened = dir.Open(options);
        Assert.Empty(reopened.Recovery.UnfinishedEvents);
        await reopened.DisposeAsync();
        Assert.InRange(dir.SegmentFiles().Length, 0, 2);
    }

    [Fact]
    public async Task AppendEvent_MorePendingBytesThanTheBatchBound_AppliesBackpressureAndCompletesAll()
    {
        using var dir = new WalTestDirectory();
        using var cts = new CancellationTokenSource(s_timeout);
        var options = new WriteAheadLogOptions { FlushMode = WalFlushMode.Always, MaxRecordSize = 1024 * 1024 };
        var records = Enumerable.Range(0, 64).Select(_ => WalTestRecords.Event(payloadBytes: 300 * 1024)).ToList();
        await using (var log = dir.Open(options))
        {
            await Task.WhenAll(records.Select(r => Task.Run(() => log.AppendEventAsync(r, cts.Token).AsTask()))).WaitAsync(cts.Token);
        }

        await using var reopened = dir.Open(options);
        Assert.Equal(records.Select(r => r.EventId).Order(), reopened.Recovery.UnfinishedEvents.Select(p => p.Event.EventId).Order());
    }

    [Fact]
    public async Task AppendEvent_CancelledToken_ThrowsBeforeWriting()
    {
        using var dir = new WalTestDirectory();
        await using var log = dir.Open();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => log.AppendEventAsync(WalTestRecords.Event(), new CancellationToken(canceled: true)).AsTask());

        Assert.Empty(dir.SegmentFiles());
    }

    [Fact]
    public async Task AppendEvent_AfterDispose_ThrowsObjectDisposed()
    {
        using var dir = new WalTestDirectory();
        var log = dir.Open();
        await log.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => log.AppendEventAsync(WalTestRecords.Event()).AsTask());
    }

    [Fact]
    public async Task AppendEvent_SameEventIdAgain_AddsSubscriptionsForRedrive()
    {
        using var dir = new WalTestDirectory();
        var record = WalTestRecords.Event(subscriptions: ["billing", "shipping"]);
        var deadLetter = WalTestRecords.DeadLetter(record.EventId, "billing");
        await using (var log = dir.Open())
        {
            await log.AppendEventAsync(record);
            await log.AppendDeadLetterAsync(deadLetter);
            await log.AppendEventAsync(record with { Subscriptions = ["billing"], Attempt = 2 });
            await log.AppendDeadLetterRedrivenAsync(deadLetter.DeadLetterId);
        }

        await using var reopened = dir.Open();

        var pending = Assert.Single(reopened.Recovery.UnfinishedEvents);
        Assert.Equal(2, pending.Event.Attempt);
        Assert.Equal(["billing", "shipping"], pending.PendingSubscriptions.Order(StringComparer.Ordinal));
        Assert.Empty(reopened.Recovery.DeadLetters);
    }
}
