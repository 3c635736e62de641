using System.Collections.Concurrent;
using Busbar.Durability;
using Busbar.Tests.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Win32.SafeHandles;
using Xunit.Abstractions;

namespace Busbar.Tests.Durability;

/// <summary>
/// Group commit with awaited appends and posted records (<see cref="WriteAheadLog.Post"/>) in the same batches:
/// concurrent appenders, backpressure, segment rolls and compaction, then a reopen that must find exactly what was
/// acknowledged and not finished.
/// </summary>
public sealed class WalGroupCommitTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(7)]
    [InlineData(311)]
    [InlineData(4099)]
    public async Task ConcurrentAppendersWithPostedFinishes_Reopen_RecoversEveryAcknowledgedUnfinishedEventOnce(int seed)
    {
        const int appenders = 8;
        const int perAppender = 150;
        output.WriteLine($"seed {seed}: {appenders} appenders x {perAppender} events, Always, 64 KiB segments");
        using var dir = new WalTestDirectory();
        using var cts = new CancellationTokenSource(s_timeout);
        var options = new WriteAheadLogOptions { FlushMode = WalFlushMode.Always, SegmentSize = 64 * 1024, MaxRecordSize = 512 * 1024 };
        var expected = new ConcurrentDictionary<Guid, (WalEventRecord Record, HashSet<string> Pending)>();
        long appended = 0;
        await using (var log = dir.Open(options))
        {
            var tasks = Enumerable.Range(0, appenders).Select(a => Task.Run(async () =>
            {
                var random = new Random(seed * 31 + a);
                for (var i = 0; i < perAppender; i++)
                {
                    // Mostly small records; now and then one of ~250 KiB, so 8 appenders overrun the 1 MiB batch
                    // bound (backpressure) and the 64 KiB segments roll.
                    var size = random.Next(100) < 2 ? random.Next(200_000, 300_000) : random.Next(16, 2_000);
                    var record = WalTestRecords.Event(subscriptions: ["a", "b"], payloadBytes: size);
                    await log.AppendNewEventAsync(record, cts.Token);
                    Interlocked.Increment(ref appended);
                    var pending = new HashSet<string>(StringComparer.Ordinal) { "a", "b" };
                    foreach (var subscription in new[] { "a", "b" })
                    {
                        if (random.Next(100) < 60)
                        {
                            // Posted like the bus posts a handler's finish: not awaited unless it waits for room.
                            await log.Post(new WalHandlerFinishedRecord { EventId = record.EventId, SubscriptionName = subscription, Status = WalHandlerStatus.Succeeded, Attempts = 1 });
                            pending.Remove(subscription);
                        }
                    }

                    if (pending.Count > 0)
                        Assert.True(expected.TryAdd(record.EventId, (record, pending)));
                }
            }, cts.Token)).ToArray();

            await Task.WhenAll(tasks).WaitAsync(cts.Token);
            output.WriteLine($"{appended} appended, {expected.Count} left unfinished, {log.FsyncCount} fsyncs, {log.SegmentCount} segments");
        }

        await using var reopened = dir.Open(options);
        Assert.Empty(reopened.Recovery.Problems);
        var recovered = reopened.Recovery.UnfinishedEvents;
        Assert.Equal(recovered.Count, recovered.Select(p => p.Event.EventId).Distinct().Count());
        Assert.Equal(expected.Keys.Order(), recovered.Select(p => p.Event.EventId).Order());
        foreach (var pending in recovered)
        {
            var (record, subscriptions) = expected[pending.Event.EventId];
            Assert.Equal(subscriptions.Order(StringComparer.Ordinal), pending.PendingSubscriptions.Order(StringComparer.Ordinal));
            Assert.Equal(record.Payload.ToArray(), pending.Event.Payload.ToArray());
            Assert.Equal(record.OrderingKey, pending.Event.OrderingKey);
        }
    }

    [Fact]
    public async Task Post_BatchWriteFails_LogsTheFailureAndLeavesNoUnobservedTaskException()
    {
        using var dir = new WalTestDirectory();
        var marker = "injected write failure " + Guid.NewGuid().ToString("N");
        var storage = new FailingWriteStorage(marker);
        var logger = new FakeLogger(new FakeLogCollector(Microsoft.Extensions.Options.Options.Create(new FakeLogCollectorOptions())));
        var unobserved = 0;
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, args) =>
        {
            if (args.Exception.Flatten().InnerExceptions.Any(e => e.Message.Contains(marker, StringComparison.Ordinal)))
                Interlocked.Increment(ref unobserved);
        };
        TaskScheduler.UnobservedTaskException += onUnobserved;
        try
        {
            var log = WriteAheadLog.Open(dir.Path, new WriteAheadLogOptions { FlushMode = WalFlushMode.Always }, TimeProvider.System, logger, storage);
            await using (log)
            {
                var record = WalTestRecords.Event(subscriptions: ["a"]);
                await log.AppendNewEventAsync(record).AsTask().WaitAsync(s_timeout);

                storage.FailWrites = true;
                var posted = log.Post(new WalHandlerFinishedRecord { EventId = record.EventId, SubscriptionName = "a", Status = WalHandlerStatus.Succeeded, Attempts = 1 });
                Assert.True(posted.IsCompletedSuccessfully, "a post hands the record over without waiting for the flush");

                await Eventually.True(
                    () => logger.Collector.GetSnapshot().Any(r => r.Id.Id == 14 && r.Exception?.Message == marker),
                    "the failed batch's posted record is reported (JournalWriteFailed)");

                // The log no longer accepts records once a write failed; a post says so at once.
                var refused = Assert.Throws<InvalidOperationException>(() => log.Post(new WalDeadLetterRedrivenRecord { DeadLetterId = Guid.NewGuid() }));
                Assert.Equal(marker, refused.InnerException?.Message);
            }

            // The failed batch's task is unreachable now; finalizing it must not raise an unobserved exception.
            for (var i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            Assert.Equal(0, Volatile.Read(ref unobserved));
            Assert.Contains(logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Error && r.Id.Id == 203);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= onUnobserved;
        }
    }

    /// <summary>The real file system, except that segment writes throw while <see cref="FailWrites"/> is set.</summary>
    private sealed class FailingWriteStorage(string message) : IWalStorage
    {
        public volatile bool FailWrites;

        public SafeFileHandle CreateSegment(string path) => WalStorage.Instance.CreateSegment(path);

        public void Write(SafeFileHandle file, string path, ReadOnlySpan<byte> bytes, long offset)
        {
            if (FailWrites)
                throw new IOException(message);
            WalStorage.Instance.Write(file, path, bytes, offset);
        }

        public void FlushFile(SafeFileHandle file, string path) => WalStorage.Instance.FlushFile(file, path);

        public void FlushDirectory(string directory) => WalStorage.Instance.FlushDirectory(directory);

        public void Delete(string path) => WalStorage.Instance.Delete(path);
    }
}
