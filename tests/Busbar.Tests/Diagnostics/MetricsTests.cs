using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Busbar.Tests.Diagnostics;

[Collection(nameof(GlobalListenerCollection))]
public class MetricsTests
{
    private static string UniqueBus() => "metrics-" + Guid.NewGuid().ToString("N");

    private static MetricCollector<T> Collect<T>(string instrument)
        where T : struct => new(null, "Busbar", instrument);

    private static long Sum(MetricCollector<long> collector, string bus, Func<IReadOnlyDictionary<string, object?>, bool>? where = null) =>
        collector.GetMeasurementSnapshot()
            .Where(m => (string?)m.Tags["busbar.bus"] == bus && (where is null || where(m.Tags)))
            .Sum(m => m.Value);

    [Fact]
    public async Task PublishAsync_OneFailingHandler_CountersMoveExactly()
    {
        var bus = UniqueBus();
        using var published = Collect<long>("messaging.client.sent.messages");
        using var processed = Collect<long>("messaging.client.consumed.messages");
        using var failed = Collect<long>("busbar.events.failed");
        using var handlerFailures = Collect<long>("busbar.handler.failures");
        using var deadLetters = Collect<long>("busbar.dead_letters");
        using var duration = Collect<double>("messaging.process.duration");
        using var dwell = Collect<double>("busbar.queue.dwell_time");
        await using var events = EventBus.Create(new EventBusOptions { Name = bus });
        events.Subscribe<DiagOrder>(_ => { }, new SubscriptionOptions { Name = "ok" });
        events.Subscribe<DiagOrder>((o, _, _) => o.Id == 2 ? throw new InvalidOperationException("two") : ValueTask.CompletedTask, new SubscriptionOptions { Name = "picky" });

        for (var i = 1; i <= 3; i++)
            await (await events.PublishAsync(new DiagOrder(i))).AsValueTask().Within();

        Assert.Equal(3, Sum(published, bus, t => (string?)t["messaging.destination.name"] == "diag.order" && (string?)t["messaging.operation.name"] == "publish"));
        Assert.Equal(3, Sum(published, bus, t => (string?)t["messaging.operation.type"] == "send"));
        Assert.Equal(3, Sum(processed, bus));
        Assert.Equal(3, Sum(processed, bus, t => (string?)t["messaging.operation.type"] == "process"));
        Assert.Equal(2, Sum(processed, bus, t => (string?)t["busbar.status"] == "completed"));
        Assert.Equal(1, Sum(processed, bus, t => (string?)t["busbar.status"] == "failed"));
        Assert.Equal(1, Sum(failed, bus, t => (string?)t["messaging.destination.name"] == "diag.order"));
        Assert.Equal(1, Sum(handlerFailures, bus, t => (string?)t["messaging.destination.subscription.name"] == "picky" && (string?)t["error.type"] == typeof(InvalidOperationException).FullName));
        Assert.Equal(1, Sum(deadLetters, bus, t => (string?)t["messaging.destination.subscription.name"] == "picky" && (string?)t["messaging.destination.name"] == "diag.order"));
        var durations = duration.GetMeasurementSnapshot().Where(m => (string?)m.Tags["busbar.bus"] == bus).ToList();
        Assert.Equal(6, durations.Count);
        Assert.Equal(3, durations.Count(m => (string?)m.Tags["messaging.destination.subscription.name"] == "ok"));
        Assert.All(durations, m => Assert.Equal(m.Tags["messaging.destination.subscription.name"], m.Tags["messaging.consumer.group.name"]));
        Assert.All(durations, m => Assert.Equal("process", m.Tags["messaging.operation.type"]));
        Assert.Single(durations, m => m.Tags.ContainsKey("error.type"));
        Assert.Equal(3, dwell.GetMeasurementSnapshot().Count(m => (string?)m.Tags["busbar.bus"] == bus));
        var stats = events.GetStatistics();
        Assert.Equal((3, 3, 1, 1), (stats.Published, stats.Processed, stats.Failed, stats.DeadLettered));
    }

    [Fact]
    public async Task HandlerRetried_RetriesCountedPerSubscriptionThenDeadLettered()
    {
        var bus = UniqueBus();
        using var retried = Collect<long>("busbar.handler.retries");
        using var deadLetters = Collect<long>("busbar.dead_letters");
        await using var events = EventBus.Create(new EventBusOptions { Name = bus });
        events.Subscribe<DiagOrder>(
            (_, _, _) => throw new TimeoutException("always"),
            new SubscriptionOptions { Name = "hopeless", Retry = RetryPolicy.Constant(3, TimeSpan.FromMilliseconds(1)) });

        var outcome = await (await events.PublishAsync(new DiagOrder(1))).AsValueTask().Within();

        Assert.Equal(EventStatus.Failed, outcome.Status);
        Assert.Equal(2, Sum(retried, bus, t => (string?)t["messaging.destination.subscription.name"] == "hopeless" && (string?)t["messaging.destination.name"] == "diag.order"));
        Assert.Equal(1, Sum(deadLetters, bus));
        Assert.Equal(2, events.GetStatistics().Retried);
    }

    [Theory]
    [InlineData(BusFullMode.DropNewest, "busbar.events.dropped")]
    [InlineData(BusFullMode.DropOldest, "busbar.events.dropped")]
    [InlineData(BusFullMode.Reject, "busbar.events.rejected")]
    public async Task QueueFull_DropsAndRejectionsCountedAndDepthObserved(BusFullMode mode, string instrument)
    {
        var bus = UniqueBus();
        using var refused = Collect<long>(instrument);
        using var published = Collect<long>("messaging.client.sent.messages");
        using var depth = Collect<int>("busbar.queue.depth");
        var gate = new Gate();
        await using var events = EventBus.Create(new EventBusOptions { Name = bus, Capacity = 2, FullMode = mode });
        events.Subscribe<DiagOrder>(async (_, _, _) => await gate.PassAsync());
        await events.PublishAsync(new DiagOrder(0));
        await Eventually.True(() => gate.Entered == 1, "first event running");
        await events.PublishAsync(new DiagOrder(1));
        await events.PublishAsync(new DiagOrder(2));

        for (var i = 0; i < 5; i++)
        {
            if (mode == BusFullMode.Reject)
                await Assert.ThrowsAsync<BusFullException>(async () => await events.PublishAsync(new DiagOrder(10 + i)));
            else
                await events.PublishAsync(new DiagOrder(10 + i));
        }

        depth.RecordObservableInstruments();
        var observed = depth.GetMeasurementSnapshot().Where(m => (string?)m.Tags["busbar.bus"] == bus).Select(m => m.Value).ToList();
        gate.Open();

        Assert.Equal(5, Sum(refused, bus, t => (string?)t["messaging.destination.name"] == "diag.order"));
        Assert.Equal(5, Sum(refused, bus, t => (string?)t["error.type"] == (mode == BusFullMode.Reject ? "busbar.rejected" : "busbar.dropped")));
        Assert.Equal(8, Sum(published, bus));
        Assert.Equal([2], observed);
        var stats = events.GetStatistics();
        Assert.Equal(5, mode == BusFullMode.Reject ? stats.Rejected : stats.Dropped);
    }

    [Fact]
    public async Task PublishAsync_ClientOperationDuration_OnePerPublishAndRefusalsCarryErrorType()
    {
        var bus = UniqueBus();
        using var duration = Collect<double>("messaging.client.operation.duration");
        var gate = new Gate();
        await using var events = EventBus.Create(new EventBusOptions { Name = bus, Capacity = 1, FullMode = BusFullMode.Reject });
        events.Subscribe<DiagOrder>(async (_, _, _) => await gate.PassAsync());
        await events.PublishAsync(new DiagOrder(0));
        await Eventually.True(() => gate.Entered == 1, "first event running");
        await events.PublishAsync(new DiagOrder(1));
        await Assert.ThrowsAsync<BusFullException>(async () => await events.PublishAsync(new DiagOrder(2)));
        gate.Open();

        var measurements = duration.GetMeasurementSnapshot().Where(m => (string?)m.Tags["busbar.bus"] == bus).ToList();
        Assert.Equal(3, measurements.Count);
        Assert.All(measurements, m =>
        {
            Assert.Equal("publish", m.Tags["messaging.operation.name"]);
            Assert.Equal("send", m.Tags["messaging.operation.type"]);
            Assert.Equal("diag.order", m.Tags["messaging.destination.name"]);
            Assert.True(m.Value >= 0);
        });
        var refused = Assert.Single(measurements, m => m.Tags.ContainsKey("error.type"));
        Assert.Equal("busbar.rejected", refused.Tags["error.type"]);
    }

    [Fact]
    public async Task PublishAsync_WaitsForRoom_DurationIncludesTheWait()
    {
        var bus = UniqueBus();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        using var duration = Collect<double>("messaging.client.operation.duration");
        var gate = new Gate();
        await using var events = new EventBusBuilder().WithTimeProvider(time).WithOptions(new EventBusOptions { Name = bus, Capacity = 1, FullMode = BusFullMode.Wait }).Build();
        events.Subscribe<DiagOrder>(async (_, _, _) => await gate.PassAsync());
        await events.PublishAsync(new DiagOrder(0));
        await Eventually.True(() => gate.Entered == 1, "first event running");
        await events.PublishAsync(new DiagOrder(1));

        var waiting = events.PublishAsync(new DiagOrder(2)).AsTask();
        Assert.False(waiting.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(3));
        gate.Open();
        await waiting.Within();

        var measurements = duration.GetMeasurementSnapshot().Where(m => (string?)m.Tags["busbar.bus"] == bus).ToList();
        Assert.Equal(3, measurements.Count);
        Assert.Equal(3, measurements.Max(m => m.Value));
    }
}
