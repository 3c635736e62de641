using System.Collections.Concurrent;
using System.Diagnostics;

namespace Busbar.Tests.Diagnostics;

/// <summary>
/// Tests that attach process-wide listeners (ActivityListener, MeterListener) run alone: a listener
/// makes every bus in the process record spans and measurements, which would break the
/// zero-allocation tests running beside them.
/// </summary>
[CollectionDefinition(nameof(GlobalListenerCollection), DisableParallelization = true)]
public sealed class GlobalListenerCollection;

/// <summary>An <see cref="ActivityListener"/> on the Busbar source, recording stopped spans.</summary>
internal sealed class SpanRecorder : IDisposable
{
    private readonly ActivityListener _listener;

    public SpanRecorder()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Busbar",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = Stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public ConcurrentQueue<Activity> Stopped { get; } = new();

    public List<Activity> For(string bus) => [.. Stopped.Where(a => (string?)a.GetTagItem("busbar.bus") == bus)];

    public void Dispose() => _listener.Dispose();
}

[Collection(nameof(GlobalListenerCollection))]
public class TracingTests
{
    private static string UniqueBus() => "tracing-" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task PublishAsync_WithListener_HandlerSpanIsChildOfPublishSpanAcrossTheQueue()
    {
        using var recorder = new SpanRecorder();
        var name = UniqueBus();
        await using var bus = EventBus.Create(new EventBusOptions { Name = name });
        ActivityContext seenInSync = default, seenInAsync = default;
        bus.Subscribe<DiagOrder>(_ => seenInSync = Activity.Current!.Context, new SubscriptionOptions { Name = "sync" });
        bus.Subscribe<DiagOrder>(
            async (_, _, _) =>
            {
                await Task.Yield();
                seenInAsync = Activity.Current!.Context;
            },
            new SubscriptionOptions { Name = "async" });

        using var root = new Activity("request").SetIdFormat(ActivityIdFormat.W3C).Start();
        var handle = await bus.PublishAsync(new DiagOrder(1));
        root.Stop();
        await handle.AsValueTask().Within();
        await Eventually.True(() => recorder.For(name).Count == 3, "three spans");

        var spans = recorder.For(name);
        var publish = Assert.Single(spans, s => s.Kind == ActivityKind.Producer);
        Assert.Equal("publish diag.order", publish.DisplayName);
        Assert.Equal("send", publish.GetTagItem("messaging.operation.type"));
        Assert.Equal("publish", publish.GetTagItem("messaging.operation.name"));
        Assert.Equal(handle.Context.CorrelationId.ToString(), publish.GetTagItem("messaging.message.conversation_id"));
        Assert.Equal(root.SpanId, publish.ParentSpanId);
        Assert.Equal(root.TraceId, publish.TraceId);
        Assert.Equal(publish.Id, handle.Context.Headers["traceparent"]);
        var process = spans.Where(s => s.Kind == ActivityKind.Consumer).ToList();
        Assert.Equal(2, process.Count);
        Assert.All(process, s =>
        {
            Assert.Equal("process diag.order", s.DisplayName);
            Assert.Equal(publish.TraceId, s.TraceId);
            Assert.Equal(publish.SpanId, s.ParentSpanId);
            Assert.Equal("process", s.GetTagItem("messaging.operation.type"));
            Assert.Equal(s.GetTagItem("messaging.destination.subscription.name"), s.GetTagItem("messaging.consumer.group.name"));
            var link = Assert.Single(s.Links);
            Assert.Equal(publish.TraceId, link.Context.TraceId);
            Assert.Equal(publish.SpanId, link.Context.SpanId);
        });
        Assert.Equal(process.Single(s => (string?)s.GetTagItem("messaging.destination.subscription.name") == "sync").SpanId, seenInSync.SpanId);
        Assert.Equal(process.Single(s => (string?)s.GetTagItem("messaging.destination.subscription.name") == "async").SpanId, seenInAsync.SpanId);
        Assert.Null(Activity.Current);
    }

    [Fact]
    public async Task PublishBatchAsync_WithListener_OneBatchSpanWithMessageCountParentOfEachPublishSpan()
    {
        using var recorder = new SpanRecorder();
        var name = UniqueBus();
        await using var bus = EventBus.Create(new EventBusOptions { Name = name });

        var handles = await bus.PublishBatchAsync([new DiagOrder(1), new DiagOrder(2), new DiagOrder(3)]);
        foreach (var handle in handles)
            await handle.AsValueTask().Within();

        var spans = recorder.For(name);
        var batch = Assert.Single(spans, s => s.GetTagItem("messaging.batch.message_count") is not null);
        Assert.Equal(3, batch.GetTagItem("messaging.batch.message_count"));
        Assert.Equal("publish diag.order", batch.DisplayName);
        Assert.Equal(ActivityKind.Producer, batch.Kind);
        var publishes = spans.Where(s => s != batch && s.Kind == ActivityKind.Producer).ToList();
        Assert.Equal(3, publishes.Count);
        Assert.All(publishes, p => Assert.Equal(batch.SpanId, p.ParentSpanId));
    }

    [Fact]
    public async Task HandlerRetried_OneConsumerSpanPerAttemptFailedMarkedError()
    {
        using var recorder = new SpanRecorder();
        var name = UniqueBus();
        await using var bus = EventBus.Create(new EventBusOptions { Name = name });
        var calls = 0;
        bus.Subscribe<DiagOrder>(
            (_, _, _) => ++calls == 1 ? throw new InvalidOperationException("once") : ValueTask.CompletedTask,
            new SubscriptionOptions { Name = "flaky", Retry = RetryPolicy.Constant(2, TimeSpan.FromMilliseconds(1)) });

        await (await bus.PublishAsync(new DiagOrder(1))).AsValueTask().Within();
        await Eventually.True(() => recorder.For(name).Count == 3, "publish and two attempts");

        var spans = recorder.For(name);
        var publish = Assert.Single(spans, s => s.Kind == ActivityKind.Producer);
        var attempts = spans.Where(s => s.Kind == ActivityKind.Consumer).ToList();
        Assert.All(attempts, s => Assert.Equal(publish.SpanId, s.ParentSpanId));
        Assert.Single(attempts, s => s.Status == ActivityStatusCode.Error);
    }

    [Fact]
    public async Task PublishAsync_QueueFull_PublishSpanMarkedError()
    {
        using var recorder = new SpanRecorder();
        var name = UniqueBus();
        var gate = new Gate();
        await using var bus = EventBus.Create(new EventBusOptions { Name = name, Capacity = 1, FullMode = BusFullMode.DropNewest });
        bus.Subscribe<DiagOrder>(async (_, _, _) => await gate.PassAsync());
        await bus.PublishAsync(new DiagOrder(0));
        await Eventually.True(() => gate.Entered == 1, "first event running");
        await bus.PublishAsync(new DiagOrder(1));

        var dropped = await bus.PublishAsync(new DiagOrder(2));
        gate.Open();

        Assert.Equal(EventStatus.Dropped, dropped.Status);
        var span = Assert.Single(recorder.For(name), s => s.Kind == ActivityKind.Producer && s.Status == ActivityStatusCode.Error);
        Assert.Equal("busbar.dropped", span.GetTagItem("error.type"));
    }

    [Fact]
    public async Task ProcessSpan_PublishedWithoutAmbientActivity_LinksToCreationContextFromHeaders()
    {
        using var recorder = new SpanRecorder();
        var name = UniqueBus();
        await using var bus = EventBus.Create(new EventBusOptions { Name = name });
        bus.Subscribe<DiagOrder>(_ => { }, new SubscriptionOptions { Name = "audit" });
        var creation = ActivityContext.Parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", null);

        var handle = await bus.PublishAsync(new DiagOrder(1), new PublishOptions { Headers = new Dictionary<string, string> { ["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } });
        await handle.AsValueTask().Within();
        await Eventually.True(() => recorder.For(name).Count == 2, "publish and process");

        var spans = recorder.For(name);
        var publish = Assert.Single(spans, s => s.Kind == ActivityKind.Producer);
        var process = Assert.Single(spans, s => s.Kind == ActivityKind.Consumer);
        Assert.Equal(creation.TraceId, publish.TraceId);
        Assert.Equal(creation.SpanId, publish.ParentSpanId);
        Assert.Equal(publish.SpanId, Assert.Single(process.Links).Context.SpanId);
        Assert.Equal("audit", process.GetTagItem("messaging.consumer.group.name"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task HandlerFails_ErrorTypeOnSpanEqualsErrorTypeOnMetrics(bool timesOut)
    {
        using var recorder = new SpanRecorder();
        using var failures = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<long>(null, "Busbar", "busbar.handler.failures");
        using var durations = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<double>(null, "Busbar", "messaging.process.duration");
        var name = UniqueBus();
        await using var bus = EventBus.Create(new EventBusOptions { Name = name });
        bus.Subscribe<DiagOrder>(
            async (_, _, ct) =>
            {
                if (!timesOut)
                    throw new FormatException("bad");
                await Task.Delay(Timeout.Infinite, ct);
            },
            new SubscriptionOptions { Name = "failing", HandlerTimeout = timesOut ? TimeSpan.FromMilliseconds(1) : null });

        var outcome = await bus.PublishAndWaitAsync(new DiagOrder(1)).Within();
        await Eventually.True(() => recorder.For(name).Count == 2, "publish and process");

        Assert.Equal(timesOut ? HandlerStatus.TimedOut : HandlerStatus.Failed, outcome.Handlers[0].Status);
        var expected = timesOut ? "timeout" : typeof(FormatException).FullName;
        var span = Assert.Single(recorder.For(name), s => s.Kind == ActivityKind.Consumer);
        Assert.Equal(expected, span.GetTagItem("error.type"));
        var failure = Assert.Single(failures.GetMeasurementSnapshot(), m => (string?)m.Tags["busbar.bus"] == name);
        Assert.Equal(expected, failure.Tags["error.type"]);
        Assert.Equal("process", failure.Tags["messaging.operation.type"]);
        var duration = Assert.Single(durations.GetMeasurementSnapshot(), m => (string?)m.Tags["busbar.bus"] == name);
        Assert.Equal(expected, duration.Tags["error.type"]);
    }

    [Fact]
    public async Task PublishAsync_NoListener_WritesNoTraceHeaders()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<DiagOrder>(_ => Assert.Null(Activity.Current));

        var handle = await bus.PublishAsync(new DiagOrder(1));
        await handle.AsValueTask().Within();

        Assert.False(handle.Context.Headers.ContainsKey("traceparent"));
    }

    [Fact]
    public async Task SendAsync_NoListener_WarmInlineSendAllocatesNothing()
    {
        await using var bus = EventBus.Create();
        var count = 0;
        bus.Subscribe<DiagOrder>((_, _, _) =>
        {
            count++;
            return ValueTask.CompletedTask;
        });
        var order = new DiagOrder(1);
        await bus.SendAsync(order);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
            await bus.SendAsync(order);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(101, count);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public async Task FlowExecutionContext_On_HandlerSpanParentageUnchanged()
    {
        // Without a publish span (nobody listened at publish), the handler span is a root, as without the option:
        // the publisher's ambient activity is not made current in the handler.
        var name = UniqueBus();
        await using var bus = EventBus.Create(new EventBusOptions { Name = name, FlowExecutionContext = true });
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<DiagOrder>(async (o, _, _) =>
        {
            if (o.Id == 0)
                await gate.Task;
        }, new SubscriptionOptions { Name = "handler" });
        var blocker = await bus.PublishAsync(new DiagOrder(0));
        EventHandle handle;
        using (var request = new Activity("request").SetIdFormat(ActivityIdFormat.W3C).Start())
            handle = await bus.PublishAsync(new DiagOrder(1));

        using var recorder = new SpanRecorder();
        gate.SetResult();
        await blocker.AsValueTask().Within();
        await handle.AsValueTask().Within();

        var span = Assert.Single(recorder.For(name), a => a.GetTagItem("messaging.message.id") as string == handle.EventId.ToString());
        Assert.Equal(default, span.ParentSpanId);
        Assert.Null(span.Parent);
    }

    [Fact]
    public async Task FlowExecutionContext_On_HandlerSpanIsChildOfPublishSpan()
    {
        using var recorder = new SpanRecorder();
        var name = UniqueBus();
        await using var bus = EventBus.Create(new EventBusOptions { Name = name, FlowExecutionContext = true });
        bus.Subscribe<DiagOrder>(_ => { }, new SubscriptionOptions { Name = "handler" });
        EventHandle handle;
        using (var request = new Activity("request").SetIdFormat(ActivityIdFormat.W3C).Start())
            handle = await bus.PublishAsync(new DiagOrder(1));
        await handle.AsValueTask().Within();

        var spans = recorder.For(name);
        var publish = Assert.Single(spans, a => a.Kind == ActivityKind.Producer);
        var process = Assert.Single(spans, a => a.Kind == ActivityKind.Consumer);
        Assert.Equal(publish.SpanId, process.ParentSpanId);
    }

    [Fact]
    public async Task PublishAsync_ListenerThrowsAsAPublishThatWaitedForRoomIsAdmitted_ThePublishFaultsWithItAndTheBusRuns()
    {
        // The admission after a wait for room runs on the thread pool: a listener's exception there must reach the publisher
        // (as it did from the async method the waiter replaced), never escape to the thread pool.
        var name = UniqueBus();
        var armed = 0;
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Busbar",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                if (a.Kind == ActivityKind.Producer && (string?)a.GetTagItem("busbar.bus") == name && Interlocked.Exchange(ref armed, 0) == 1)
                    throw new InvalidOperationException("listener failed");
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var bus = EventBus.Create(new EventBusOptions { Name = name, Capacity = 1, FullMode = BusFullMode.Wait });
        var proceed = new SemaphoreSlim(0);
        bus.Subscribe<DiagOrder>(async (_, _, ct) => await proceed.WaitAsync(ct));
        await bus.PublishAsync(new DiagOrder(1));
        await TestTimeout.Until(() => bus.GetStatistics() is { QueueDepth: 0, InFlight: 1 }, what: "the worker holds the first event");
        await bus.PublishAsync(new DiagOrder(2));

        Volatile.Write(ref armed, 1);
        var waiting = bus.PublishAsync(new DiagOrder(3));
        Assert.False(waiting.IsCompleted);
        proceed.Release();
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => waiting.AsTask().Within());
        Assert.Equal("listener failed", ex.Message);

        // The same when the wait ends by cancellation: the refusal's span throws, the event is still refused.
        await TestTimeout.Until(() => bus.GetStatistics() is { QueueDepth: 1, InFlight: 2 }, what: "the third event queued behind the second");
        using var cancel = new CancellationTokenSource();
        Volatile.Write(ref armed, 1);
        var cancelled = bus.PublishAsync(new DiagOrder(4), cancellationToken: cancel.Token);
        Assert.False(cancelled.IsCompleted);
        await cancel.CancelAsync();
        ex = await Assert.ThrowsAsync<InvalidOperationException>(() => cancelled.AsTask().Within());
        Assert.Equal("listener failed", ex.Message);

        // The third event was admitted before the listener threw: it runs, and the bus goes on.
        var after = bus.PublishAsync(new DiagOrder(5));
        proceed.Release(3);
        Assert.Equal(EventStatus.Completed, (await (await after.Within()).AsValueTask().Within()).Status);
        await TestTimeout.Until(() => bus.GetStatistics() is { InFlight: 0, Completed: 4, Rejected: 1 }, what: "four events completed, one rejected");
    }
}
