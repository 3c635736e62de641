using System.Collections.Concurrent;
using System.Text.Json;
using Busbar.Durability;

namespace Busbar.Tests.Durability;

public sealed class DurableBusTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "busbar-durable-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

#pragma warning disable IL2026, IL3050
    private IEventBus Open(WalFlushMode mode = WalFlushMode.Always, Action<EventBusBuilder>? configure = null)
    {
        var builder = new EventBusBuilder().UseWriteAheadLog(_dir, new WriteAheadLogOptions { FlushMode = mode });
        configure?.Invoke(builder);
        return builder.Build();
    }
#pragma warning restore IL2026, IL3050

    [Fact]
    public async Task Publish_HandlerCancelledAtStop_RedeliveredAfterRestartWithAttempt2()
    {
        var bus = Open();
        var started = new TaskCompletionSource();
        bus.Subscribe<OrderPlaced>(async (_, _, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        }, new SubscriptionOptions { Name = "billing" });
        var handles = new List<EventHandle>();
        for (var i = 0; i < 5; i++)
            handles.Add(await bus.PublishAsync(new OrderPlaced(i)));
        await started.Task.Within();
        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(50)).Within();
        Assert.Equal(5, report.PendingInLog);

        var seen = new ConcurrentQueue<(int Order, int Attempt, Guid Id)>();
        await using var again = Open();
        Assert.Equal(5, again.GetWriteAheadLogStatus()!.PendingEvents);
        again.Subscribe<OrderPlaced>((e, ctx, _) =>
        {
            seen.Enqueue((e.OrderId, ctx.Attempt, ctx.EventId));
            return ValueTask.CompletedTask;
        }, new SubscriptionOptions { Name = "billing" });
        await TestTimeout.Until(() => seen.Count == 5);
        Assert.Equal([0, 1, 2, 3, 4], seen.Select(s => s.Order).Order());
        Assert.All(seen, s => Assert.Equal(2, s.Attempt));
        Assert.Equal(handles.Select(h => h.EventId).Order(), seen.Select(s => s.Id).Order());
        await TestTimeout.Until(() => again.GetStatistics().InFlight == 0);
        Assert.Equal(0, again.GetWriteAheadLogStatus()!.PendingEvents);
    }

    [Fact]
    public async Task Publish_HandledEvents_NotRedelivered()
    {
        await using (var bus = Open())
        {
            bus.Subscribe<OrderPlaced>(_ => { }, new SubscriptionOptions { Name = "billing" });
            EventHandle last = default;
            for (var i = 0; i < 20; i++)
                last = await bus.PublishAsync(new OrderPlaced(i));
            await last.AsValueTask().Within();
        }

        await using var again = Open();
        Assert.Equal(0, again.GetWriteAheadLogStatus()!.PendingEvents);
        var count = 0;
        again.Subscribe<OrderPlaced>(_ => count++, new SubscriptionOptions { Name = "billing" });
        Assert.Equal(0, again.GetStatistics().Published);
    }

    [Fact]
    public async Task Subscribe_WithoutName_ClearError()
    {
        await using var bus = Open();
        var ex = Assert.Throws<ArgumentException>(() => bus.Subscribe<OrderPlaced>(_ => { }));
        Assert.Contains("SubscriptionOptions.Name", ex.Message, StringComparison.Ordinal);
    }

    public sealed record NotSerializable(Func<int> Callback);

    [Fact]
    public async Task Publish_UnserializablePayload_FailsAndWritesNothing()
    {
        await using (var bus = Open())
        {
            bus.Subscribe<NotSerializable>(_ => { }, new SubscriptionOptions { Name = "x" });
            var ex = await Assert.ThrowsAsync<ArgumentException>(async () => await bus.PublishAsync(new NotSerializable(() => 1)));
            Assert.Contains("cannot be serialized", ex.Message, StringComparison.Ordinal);
            Assert.Equal(0, bus.GetStatistics().QueueDepth);
        }

        var inspection = WriteAheadLog.Inspect(_dir);
        Assert.Empty(inspection.UnfinishedEvents);
        Assert.All(inspection.Segments, s => Assert.Equal(0, s.EventRecords + s.HandlerFinishedRecords + s.DeadLetterRecords));
    }

    [Fact]
    public async Task DeadLetters_SurviveRestart_AndRedriveOnce()
    {
        await using (var bus = Open())
        {
            bus.Subscribe<OrderPlaced>((_, _, _) => throw new InvalidOperationException("card declined"), new SubscriptionOptions { Name = "billing", Retry = RetryPolicy.Constant(2, TimeSpan.Zero) });
            await (await bus.PublishAsync(new OrderPlaced(7))).AsValueTask().Within();
            Assert.Equal(1, bus.DeadLetters.Count);
        }

        DeadLetter letter;
        var handled = new ConcurrentQueue<int>();
        await using (var bus = Open())
        {
            letter = Assert.Single(bus.DeadLetters.List());
            Assert.Equal("billing", letter.SubscriptionName);
            Assert.Equal(2, letter.Attempts);
            Assert.Contains("card declined", letter.ExceptionMessage, StringComparison.Ordinal);
            bus.Subscribe<OrderPlaced>(e => handled.Enqueue(e.OrderId), new SubscriptionOptions { Name = "billing" });
            var outcome = await bus.DeadLetters.RedriveAsync(letter.Id).Within();
            Assert.Equal(EventStatus.Completed, outcome.Status);
            Assert.Equal([7], handled);
        }

        await using (var bus = Open())
        {
            Assert.Equal(0, bus.DeadLetters.Count);
            Assert.Equal(0, bus.GetWriteAheadLogStatus()!.PendingEvents);
        }
    }

    [Fact]
    public async Task DeadLetters_RecoveredAfterRestart_BoundToTheBusHoldingThemAndTheirRedriveHandlerSeesIt()
    {
        await using (var bus = Open())
        {
            bus.Subscribe<OrderPlaced>((_, _, _) => throw new InvalidOperationException("card declined"), new SubscriptionOptions { Name = "billing" });
            await (await bus.PublishAsync(new OrderPlaced(8))).AsValueTask().Within();
        }

        await using (var bus = Open())
        {
            var letter = Assert.Single(bus.DeadLetters.List());
            Assert.Same(bus, letter.Context.Bus);
            IEventBus? seen = null;
            bus.Subscribe<OrderPlaced>((_, context) => seen = context.Bus, new SubscriptionOptions { Name = "billing" });

            var outcome = await bus.DeadLetters.RedriveAsync(letter.Id).Within();

            Assert.Equal(EventStatus.Completed, outcome.Status);
            Assert.Same(bus, seen);
        }
    }

    [Fact]
    public async Task DeadLetters_PurgeAndRemove_SurviveRestart()
    {
        Guid removed;
        await using (var bus = Open())
        {
            bus.Subscribe<OrderPlaced>((_, _, _) => throw new InvalidOperationException("card declined"), new SubscriptionOptions { Name = "billing" });
            bus.Subscribe<OrderShipped>((_, _, _) => throw new TimeoutException("carrier down"), new SubscriptionOptions { Name = "shipping" });
            for (var i = 0; i < 3; i++)
            {
                await (await bus.PublishAsync(new OrderPlaced(i))).AsValueTask().Within();
                await (await bus.PublishAsync(new OrderShipped(i))).AsValueTask().Within();
            }

            Assert.Equal(6, bus.DeadLetters.Count);
            Assert.Equal(3, bus.DeadLetters.Purge(new DeadLetterQuery { SubscriptionName = "shipping" }));
            removed = bus.DeadLetters.List()[0].Id;
            Assert.True(bus.DeadLetters.Remove(removed));
        }

        await using (var bus = Open())
        {
            var letters = bus.DeadLetters.List();
            Assert.Equal(2, letters.Count);
            Assert.All(letters, l => Assert.Equal("billing", l.SubscriptionName));
            Assert.DoesNotContain(letters, l => l.Id == removed);
            Assert.Equal(2, bus.DeadLetters.List(new DeadLetterQuery { EventName = "orders.placed", ExceptionType = "InvalidOperationException" }).Count);
            Assert.Equal(2, bus.DeadLetters.Purge(DeadLetterQuery.All));
        }

        await using (var bus = Open())
        {
            Assert.Equal(0, bus.DeadLetters.Count);
            Assert.Equal(0, bus.GetWriteAheadLogStatus()!.PendingEvents);
        }

        Assert.Empty(WriteAheadLog.Inspect(_dir).DeadLetters);
    }

    [Fact]
    public async Task Replay_UnknownEventName_GoesToDeadLettersWithReason()
    {
        await using (var bus = Open())
        {
            bus.Subscribe("orders.*", async (_, _, ct) => await Task.Delay(Timeout.Infinite, ct), new SubscriptionOptions { Name = "audit" });
            await bus.PublishAsync(new OrderPlaced(1));
            await bus.StopAsync(TimeSpan.FromMilliseconds(20));
        }

        // A new process: nothing registers OrderPlaced, and the pattern subscription cannot tell the type.
        await using var again = new EventBusBuilder()
#pragma warning disable IL2026, IL3050
            .UseWriteAheadLog(_dir)
#pragma warning restore IL2026, IL3050
            .Build();
        again.Subscribe("orders.*", (_, _) => { }, new SubscriptionOptions { Name = "audit" });
        var letter = Assert.Single(again.DeadLetters.List());
        Assert.Contains("Unknown event name 'orders.placed'", letter.ExceptionMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_RegisteredTypeForPatternSubscription_Redelivered()
    {
        await using (var bus = Open())
        {
            bus.Subscribe("orders.*", async (_, _, ct) => await Task.Delay(Timeout.Infinite, ct), new SubscriptionOptions { Name = "audit" });
            await bus.PublishAsync(new OrderPlaced(3));
            await bus.StopAsync(TimeSpan.FromMilliseconds(20));
        }

        await using var again = Open(configure: b => b.RegisterEvent<OrderPlaced>());
        var got = new TaskCompletionSource<object>();
        again.Subscribe("orders.*", (e, _) => got.TrySetResult(e), new SubscriptionOptions { Name = "audit" });
        Assert.Equal(new OrderPlaced(3), await got.Task.Within());
    }

    [Fact]
    public async Task Open_SameDirectoryTwice_SecondFailsClearly()
    {
        await using var bus = Open();
        var ex = Assert.ThrowsAny<IOException>(() => Open());
        Assert.Contains("already in use", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(WalFlushMode.Always)]
    [InlineData(WalFlushMode.Interval)]
    [InlineData(WalFlushMode.None)]
    public async Task FlushModes_PublishAndHandle(WalFlushMode mode)
    {
        await using var bus = Open(mode);
        var count = 0;
        bus.Subscribe<OrderPlaced>(_ => Interlocked.Increment(ref count), new SubscriptionOptions { Name = "billing" });
        var handles = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => bus.PublishAsync(new OrderPlaced(i)).AsTask()));
        foreach (var h in handles)
            await h.AsValueTask().Within();
        Assert.Equal(16, count);
    }

    [Fact]
    public async Task Stop_WhileDurablePublishesAreWriting_RefusedPublishesNotRedelivered()
    {
        // A publish that passed the stopping check, then found the queue closed after its record was written,
        // throws BusStoppedException: its event must not come back after a restart, and PendingInLog must match the log.
        for (var round = 0; round < 10; round++)
        {
            Dispose();
            var acknowledged = new ConcurrentDictionary<int, bool>();
            var refused = new ConcurrentDictionary<int, bool>();
            var next = 0;
            StopReport report;
            await using (var bus = Open())
            {
                bus.Subscribe<OrderPlaced>(_ => { }, new SubscriptionOptions { Name = "billing" });
                var publishers = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
                {
                    for (var i = 0; i < 10_000; i++)
                    {
                        var id = Interlocked.Increment(ref next);
                        try
                        {
                            await bus.PublishAsync(new OrderPlaced(id));
                            acknowledged[id] = true;
                        }
                        catch (BusStoppedException)
                        {
                            refused[id] = true;
                            return;
                        }
                    }
                })).ToArray();
                await TestTimeout.Until(() => Volatile.Read(ref next) > 200);
                report = await bus.StopAsync().Within();
                await Task.WhenAll(publishers).Within();
            }

            var inspection = WriteAheadLog.Inspect(_dir);
            var redelivered = inspection.UnfinishedEvents.Select(e => JsonSerializer.Deserialize<OrderPlaced>(e.Event.Payload.Span)!.OrderId).ToList();
            Assert.DoesNotContain(redelivered, refused.ContainsKey);
            Assert.Equal(report.PendingInLog, inspection.UnfinishedEvents.Count);
        }
    }

    [Fact]
    public async Task Publish_ExplicitIdStillUnfinishedInLog_RefusedAndRestartRecoversWhatStopReported()
    {
        var id = Guid.NewGuid();
        StopReport report;
        await using (var bus = Open())
        {
            var started = new TaskCompletionSource();
            bus.Subscribe<OrderPlaced>(async (_, _, ct) =>
            {
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, ct);
            }, new SubscriptionOptions { Name = "billing" });
            await bus.PublishAsync(new OrderPlaced(1), new PublishOptions { EventId = id });
            await started.Task.Within();

            var ex = await Assert.ThrowsAsync<ArgumentException>(async () => await bus.PublishAsync(new OrderPlaced(2), new PublishOptions { EventId = id }));
            Assert.Contains(id.ToString(), ex.Message, StringComparison.Ordinal);
            Assert.Contains("still live in the write-ahead log", ex.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentException>(() => bus.TryPublish(new OrderPlaced(3), out _, new PublishOptions { EventId = id }));
            report = await bus.StopAsync(TimeSpan.FromMilliseconds(50)).Within();
        }

        Assert.Equal(1, report.PendingInLog);
        var pending = Assert.Single(WriteAheadLog.Inspect(_dir).UnfinishedEvents);
        Assert.Equal(id, pending.Event.EventId);
        Assert.Equal(1, JsonSerializer.Deserialize<OrderPlaced>(pending.Event.Payload.Span)!.OrderId);
        await using var again = Open();
        Assert.Equal(report.PendingInLog, again.GetWriteAheadLogStatus()!.PendingEvents);
    }

    [Fact]
    public async Task Publish_ExplicitIdOfFinishedEvent_Accepted()
    {
        await using var bus = Open();
        bus.Subscribe<OrderPlaced>(_ => { }, new SubscriptionOptions { Name = "billing" });
        var id = Guid.NewGuid();
        await (await bus.PublishAsync(new OrderPlaced(1), new PublishOptions { EventId = id })).AsValueTask().Within();
        await TestTimeout.Until(() => WriteAheadLog.Inspect(_dir).UnfinishedEvents.Count == 0);

        var again = await bus.PublishAsync(new OrderPlaced(2), new PublishOptions { EventId = id });

        await again.AsValueTask().Within();
    }

    public sealed class ThrowingGetter
    {
        public int Amount => throw new FormatException("amount is not a number");
    }

    [Fact]
    public async Task Publish_PropertyGetterThrows_ArgumentExceptionNamingEventWithInnerAndWritesNothing()
    {
        await using (var bus = Open())
        {
            bus.Subscribe<ThrowingGetter>(_ => { }, new SubscriptionOptions { Name = "x" });

            var ex = await Assert.ThrowsAsync<ArgumentException>(async () => await bus.PublishAsync(new ThrowingGetter()));
            var sync = Assert.Throws<ArgumentException>(() => bus.TryPublish(new ThrowingGetter(), out _));

            Assert.IsType<FormatException>(ex.InnerException);
            Assert.IsType<FormatException>(sync.InnerException);
            Assert.Contains(nameof(ThrowingGetter), ex.Message, StringComparison.Ordinal);
            Assert.Contains("cannot be serialized", ex.Message, StringComparison.Ordinal);
            Assert.Equal(0, bus.GetStatistics().QueueDepth);
        }

        var inspection = WriteAheadLog.Inspect(_dir);
        Assert.Empty(inspection.UnfinishedEvents);
        Assert.All(inspection.Segments, s => Assert.Equal(0, s.EventRecords));
    }

    [Theory]
    [InlineData(BusFullMode.DropNewest)]
    [InlineData(BusFullMode.DropOldest)]
    [InlineData(BusFullMode.Reject)]
    public async Task Publish_DurableEventDroppedOrRejectedByFullQueue_GoneAfterRestart(BusFullMode mode)
    {
        var kept = new List<int>();
        StopReport report;
        await using (var bus = Open(configure: b => b.WithOptions(new EventBusOptions { Capacity = 1, FullMode = mode })))
        {
            var started = new TaskCompletionSource();
            bus.Subscribe<OrderPlaced>(async (_, _, ct) =>
            {
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, ct);
            }, new SubscriptionOptions { Name = "billing" });
            var running = await bus.PublishAsync(new OrderPlaced(1));
            await started.Task.Within();
            var queued = await bus.PublishAsync(new OrderPlaced(2));
            EventHandle third = default;
            try
            {
                third = await bus.PublishAsync(new OrderPlaced(3));
            }
            catch (BusFullException)
            {
                Assert.Equal(BusFullMode.Reject, mode);
            }

            var dropped = mode == BusFullMode.DropOldest ? queued : third;
            if (mode != BusFullMode.Reject)
                Assert.Equal(EventStatus.Dropped, (await dropped.AsValueTask().Within()).Status);
            report = await bus.StopAsync(TimeSpan.FromMilliseconds(50)).Within();
            kept.Add(1);
            kept.Add(mode == BusFullMode.DropOldest ? 3 : 2);
        }

        var inspection = WriteAheadLog.Inspect(_dir);
        Assert.Equal(kept, inspection.UnfinishedEvents.Select(e => JsonSerializer.Deserialize<OrderPlaced>(e.Event.Payload.Span)!.OrderId).Order());
        Assert.Equal(report.PendingInLog, inspection.UnfinishedEvents.Count);
        await using var again = Open();
        Assert.Equal(kept.Count, again.GetWriteAheadLogStatus()!.PendingEvents);
    }
}
