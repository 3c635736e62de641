using System.Collections.Concurrent;
using Busbar.Tests.Durability;
using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Tests.Transport;

/// <summary>
/// A bus with a write-ahead log and a transport at once: kept-local events are durable in the log (recovered after a restart),
/// transported events are durable in the broker (given back to the group) and never written to the log.
/// </summary>
public sealed class DurableTransportBusTests : IDisposable
{
    private readonly WalTestDirectory _dir = new();
    private readonly InMemoryBroker _broker = new(new InMemoryTransportOptions { Lease = TimeSpan.FromSeconds(30), MaxDeliveries = 5 }, TimeProvider.System);

    public void Dispose()
    {
        _broker.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _dir.Dispose();
    }

    private static EventTypeRegistry Events() => new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);

#pragma warning disable IL2026, IL3050
    private IEventBus Open() => new EventBusBuilder()
        .WithOptions(new EventBusOptions { Name = "durable-transport" })
        .UseWriteAheadLog(_dir.Path)
        .UseTransport(_broker.CreateTransport(ownsBroker: false), Events(), new TransportBusOptions { RetryDelay = TimeSpan.FromMilliseconds(5) })
        .KeepLocal<OrderPlaced>()
        .Build();
#pragma warning restore IL2026, IL3050

    private static ValueTask Block(CancellationToken ct, TaskCompletionSource started)
    {
        started.TrySetResult();
        return new ValueTask(Task.Delay(Timeout.Infinite, ct));
    }

    [Fact]
    public async Task StopMidHandler_KeptLocalEventInTheLog_RecoveredAfterRestart()
    {
        var bus = Open();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<OrderPlaced>((_, _, ct) => Block(ct, started), new SubscriptionOptions { Name = "local" });
        var handle = await bus.PublishAsync(new OrderPlaced(1));
        await started.Task.Within();

        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(20)).Within();
        await bus.DisposeAsync();

        Assert.Equal(1, report.PendingInLog);
        Assert.Equal(0, report.PendingInBroker);
        Assert.Empty(_broker.ReadDeadLetters(10));
        var seen = new ConcurrentQueue<(Guid Id, int Attempt)>();
        await using var again = Open();
        again.Subscribe<OrderPlaced>((_, context, _) =>
        {
            seen.Enqueue((context.EventId, context.Attempt));
            return ValueTask.CompletedTask;
        }, new SubscriptionOptions { Name = "local" });
        await TestTimeout.Until(() => !seen.IsEmpty, what: "the kept-local event recovered from the log");
        Assert.Equal([(handle.EventId, 2)], seen);
    }

    [Fact]
    public async Task StopMidHandler_TransportedEventNotInTheLog_GivenBackToTheBroker()
    {
        var bus = Open();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<global::Busbar.Transport.Contract.OrderPlaced>((_, _, ct) => Block(ct, started), new SubscriptionOptions { Name = "remote" });
        await ((Busbar.Dispatch.InProcessEventBus)bus).Link!.WaitUntilSubscribedAsync(TestTimeout.Token());
        var handle = await bus.PublishAsync(new global::Busbar.Transport.Contract.OrderPlaced(7, "c"));
        Assert.Equal(EventStatus.Completed, (await handle.AsTask().Within()).Status);
        await started.Task.Within();

        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(20)).Within();
        await bus.DisposeAsync();

        Assert.Equal(0, report.PendingInLog);
        Assert.Equal(1, report.PendingInBroker);
        var seen = new ConcurrentQueue<(Guid Id, int Attempt)>();
        await using var again = Open();
        Assert.Equal(0, again.GetWriteAheadLogStatus()!.PendingEvents);
        again.Subscribe<global::Busbar.Transport.Contract.OrderPlaced>((_, context, _) =>
        {
            seen.Enqueue((context.EventId, context.Attempt));
            return ValueTask.CompletedTask;
        }, new SubscriptionOptions { Name = "remote" });
        await TestTimeout.Until(() => !seen.IsEmpty, what: "the transported event delivered again by the broker");
        await again.StopAsync().Within();
        Assert.Equal([(handle.EventId, 2)], seen);
    }

    [Fact]
    public async Task PublishBatchAsync_KeptLocalEvents_WrittenToTheLog()
    {
        var bus = Open();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<OrderPlaced>((_, _, ct) => Block(ct, started), new SubscriptionOptions { Name = "local" });
        var handles = await bus.PublishBatchAsync([new OrderPlaced(1), new OrderPlaced(2), new OrderPlaced(3)]);
        await started.Task.Within();

        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(20)).Within();
        await bus.DisposeAsync();

        Assert.Equal(3, report.PendingInLog);
        var seen = new ConcurrentQueue<Guid>();
        await using var again = Open();
        again.Subscribe<OrderPlaced>((_, context, _) =>
        {
            seen.Enqueue(context.EventId);
            return ValueTask.CompletedTask;
        }, new SubscriptionOptions { Name = "local" });
        await TestTimeout.Until(() => seen.Count == 3, what: "the batch's kept-local events recovered from the log");
        Assert.Equal(handles.Select(h => h.EventId).Order(), seen.Order());
    }
}
