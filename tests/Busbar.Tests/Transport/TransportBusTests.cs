using Busbar.Dispatch;
using Busbar.Transport;
using Busbar.Transport.Contract;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Busbar.Tests.Transport;

/// <summary>The bus's side of a transport that the broker suites cannot reach: the publish window, broker errors, options, hosting.</summary>
public sealed class TransportBusTests
{
    private static EventTypeRegistry Events() => new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);

    private static global::Busbar.Transport.Contract.OrderPlaced Placed(int number) => new(number, "c");

    private static IEventBus Bus(IEventTransport transport, EventBusOptions? options = null) =>
        new EventBusBuilder().WithOptions(options ?? new EventBusOptions()).UseTransport(transport, Events()).Build();

    [Fact]
    public async Task PublishAsync_WindowFullUnderReject_ThrowsBusFullAndTheEventIsRejected()
    {
        await using var transport = new GatedTransport();
        await using var bus = Bus(transport, new EventBusOptions { Capacity = 1, FullMode = BusFullMode.Reject });
        var first = await bus.PublishAsync(Placed(1));

        await Assert.ThrowsAsync<BusFullException>(async () => await bus.PublishAsync(Placed(2)));
        transport.Open();

        Assert.Equal(EventStatus.Completed, (await first.AsTask().Within()).Status);
        Assert.Equal(1, bus.GetStatistics().Rejected);
    }

    [Fact]
    public async Task PublishAsync_WindowFullUnderDropNewest_HandleDroppedAndNothingSent()
    {
        await using var transport = new GatedTransport();
        var dropped = 0;
        await using var bus = Bus(transport, new EventBusOptions { Capacity = 1, FullMode = BusFullMode.DropNewest, OnEventShed = _ => Interlocked.Increment(ref dropped) });
        await bus.PublishAsync(Placed(1));

        var second = await bus.PublishAsync(Placed(2));

        transport.Open();

        Assert.Equal(EventStatus.Dropped, (await second.AsTask().Within()).Status);
        Assert.Equal(1, dropped);
        await TestTimeout.Until(() => transport.Sent == 1, what: "the first event sent");
        Assert.Equal(1, transport.Sent);
    }

    [Fact]
    public async Task PublishAsync_WindowFullUnderWait_WaitsForTheBrokerToAnswer()
    {
        await using var transport = new GatedTransport();
        await using var bus = Bus(transport, new EventBusOptions { Capacity = 1, FullMode = BusFullMode.Wait });
        var first = await bus.PublishAsync(Placed(1));

        var second = bus.PublishAsync(Placed(2)).AsTask();
        Assert.False(second.IsCompleted);
        transport.Open();

        Assert.Equal(EventStatus.Completed, (await (await second.Within()).AsTask().Within()).Status);
        Assert.Equal(EventStatus.Completed, (await first.AsTask().Within()).Status);
        Assert.Equal(2, transport.Sent);
    }

    [Fact]
    public async Task TryPublish_WindowFull_ReturnsFalseAndTheHandleSaysRejected()
    {
        await using var transport = new GatedTransport();
        await using var bus = Bus(transport, new EventBusOptions { Capacity = 1, FullMode = BusFullMode.Wait });

        Assert.True(bus.TryPublish(Placed(1), out _));
        Assert.False(bus.TryPublish(Placed(2), out var refused));

        Assert.Equal(EventStatus.Rejected, (await refused.AsTask().Within()).Status);
        transport.Open();
    }

    [Fact]
    public async Task PublishAsync_BrokerRefuses_HandleFailedAndThePublishSpanSaysWhy()
    {
        var stopped = new System.Collections.Concurrent.ConcurrentQueue<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == "Busbar",
            Sample = static (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        await using var transport = new GatedTransport { Failure = new InvalidOperationException("broker down") };
        await using var bus = Bus(transport);

        var handle = await bus.PublishAsync(Placed(1));
        transport.Open();

        Assert.Equal(EventStatus.Failed, (await handle.AsTask().Within()).Status);
        var span = Assert.Single(stopped, a => a.OperationName == "publish contract.orders.placed" && (string?)a.GetTagItem("messaging.message.id") == handle.EventId.ToString());
        Assert.Equal(System.Diagnostics.ActivityStatusCode.Error, span.Status);
        Assert.Equal(typeof(InvalidOperationException).FullName, span.GetTagItem("error.type"));
    }

    [Fact]
    public async Task PublishAsync_TypeNotRegistered_ThrowsNamingTheEventAndKeepLocal()
    {
        await using var transport = new GatedTransport();
        await using var bus = Bus(transport);

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await bus.PublishAsync(new Ping(1)));

        Assert.Contains("'test.ping'", error.Message, StringComparison.Ordinal);
        Assert.Contains("KeepLocal", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, transport.Sent);
    }

    [Fact]
    public async Task PublishAsync_ConnectFailed_PublishFailsWithTheConnectError()
    {
        await using var bus = new EventBusBuilder()
            .UseTransport((_, _) => ValueTask.FromException<IEventTransport>(new InvalidOperationException("no broker here")), Events())
            .Build();

        var handle = await bus.PublishAsync(Placed(1));

        Assert.Equal(EventStatus.Failed, (await handle.AsTask().Within()).Status);
    }

    [Fact]
    public async Task HostStart_TransportCannotConnect_FailsTheStart()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddBusbar(b => b.ConfigureBus((_, bus) => bus.UseTransport((_, _) => ValueTask.FromException<IEventTransport>(new InvalidOperationException("no broker here")), Events())));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync().Within());

        Assert.Equal("no broker here", error.Message);
    }

    [Fact]
    public async Task HostStart_TransportBus_StartsConsumingAndDisposesTheOwnedTransport()
    {
        await using var broker = new InMemoryBroker(new InMemoryTransportOptions(), TimeProvider.System);
        var transport = new GatedTransport(broker.CreateTransport(ownsBroker: false));
        transport.Open();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        builder.Services.AddBusbar(b => b
            .ConfigureBus((_, bus) => bus.UseTransport((_, _) => new ValueTask<IEventTransport>(transport), Events()))
            .Configure(o => o with { Name = "host-bus" }));
        using var host = builder.Build();
        await host.StartAsync().Within();
        var bus = host.Services.GetRequiredService<IEventBus>();
        bus.Subscribe<global::Busbar.Transport.Contract.OrderPlaced>((_, _, _) =>
        {
            received.TrySetResult();
            return ValueTask.CompletedTask;
        });

        await bus.PublishAsync(Placed(1));
        await received.Task.Within();
        await host.StopAsync().Within();
        await bus.DisposeAsync();

        Assert.Equal("host-bus", ((InProcessEventBus)bus).Link!.Group);
        Assert.True(transport.Disposed);
    }

    [Fact]
    public async Task PublishBatchAsync_MixOfRemoteAndKeptLocal_EachGoesItsWayInOrder()
    {
        await using var transport = new GatedTransport();
        transport.Open();
        var local = new List<int>();
        await using var bus = new EventBusBuilder()
            .UseTransport(transport, Events())
            .KeepLocal("contract.orders.shipped")
            .Build();
        bus.Subscribe<global::Busbar.Transport.Contract.OrderShipped>((e, _, _) =>
        {
            local.Add(e.Number);
            return ValueTask.CompletedTask;
        });

        var handles = await bus.PublishBatchAsync<object>([Placed(1), new global::Busbar.Transport.Contract.OrderShipped(2), Placed(3)]);
        foreach (var handle in handles)
            Assert.Equal(EventStatus.Completed, (await handle.AsTask().Within()).Status);

        Assert.Equal(3, handles.Count);
        Assert.Equal(2, transport.Sent);
        Assert.Equal([2], local);
    }

    [Fact]
    public void UseTransport_InvalidOptions_ThrowsNamingTheOption()
    {
        var builder = new EventBusBuilder();
        var transport = new GatedTransport();

        var retry = Assert.Throws<ArgumentException>(() => builder.UseTransport(transport, Events(), new TransportBusOptions { RetryDelay = TimeSpan.FromSeconds(-1) }));
        var max = Assert.Throws<ArgumentException>(() => builder.UseTransport(transport, Events(), new TransportBusOptions { MaxDeliveries = 0 }));
        var group = Assert.Throws<ArgumentException>(() => builder.UseTransport(transport, Events(), new TransportBusOptions { Group = "has space" }));
        var lease = Assert.Throws<ArgumentException>(() => builder.UseTransport(transport, Events(), new TransportBusOptions { LeaseExtensionInterval = TimeSpan.Zero }));
        var ceiling = Assert.Throws<ArgumentException>(() => builder.UseTransport(transport, Events(), new TransportBusOptions { RetryDelay = TimeSpan.FromSeconds(5), MaxRetryDelay = TimeSpan.FromSeconds(1) }));

        Assert.Contains("TransportBusOptions.RetryDelay", retry.Message, StringComparison.Ordinal);
        Assert.Contains("TransportBusOptions.MaxDeliveries", max.Message, StringComparison.Ordinal);
        Assert.Contains("Group", group.Message, StringComparison.Ordinal);
        Assert.Contains("TransportBusOptions.LeaseExtensionInterval", lease.Message, StringComparison.Ordinal);
        Assert.Contains("TransportBusOptions.MaxRetryDelay", ceiling.Message, StringComparison.Ordinal);
        builder.UseTransport(transport, Events());
        Assert.Throws<InvalidOperationException>(() => builder.UseTransport(transport, Events()));
    }

    [Theory]
    [InlineData("billing", "billing")]
    [InlineData("orders api/v2", "orders-api-v2")]
    public void DefaultGroup_BusName_CharactersAGroupCannotHoldBecomeDashes(string bus, string group) =>
        Assert.Equal(group, TransportLink.DefaultGroup(bus));

    [Fact]
    public void DefaultGroup_NoBusName_EntryAssemblyName() =>
        Assert.Equal(TransportLink.DefaultGroup(System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name ?? "busbar"), TransportLink.DefaultGroup(null));

    [Fact]
    public void RetryDelay_DoublesPerDelivery_UpToTheMaximum()
    {
        var settler = new TransportSettler(new TransportBusOptions { RetryDelay = TimeSpan.FromMilliseconds(100), MaxRetryDelay = TimeSpan.FromMilliseconds(500) }, new global::Busbar.Diagnostics.BusMetrics("t"), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

        Assert.Equal([100, 200, 400, 500, 500], new[] { 1, 2, 3, 4, 20 }.Select(n => settler.DelayAfter(n).TotalMilliseconds));
    }

    /// <summary>A transport whose publishes wait until <see cref="Open"/>; then they pass to the inner transport or fail with <see cref="Failure"/>.</summary>
    private sealed class GatedTransport(IEventTransport? inner = null) : IEventTransport
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _sent;

        public Exception? Failure { get; init; }

        public int Sent => Volatile.Read(ref _sent);

        public bool Disposed { get; private set; }

        public void Open() => _gate.TrySetResult();

        public async ValueTask PublishAsync(IReadOnlyList<TransportMessage> messages, CancellationToken cancellationToken = default)
        {
            Interlocked.Add(ref _sent, messages.Count);
            await _gate.Task;
            if (Failure is not null)
                throw Failure;
            if (inner is not null)
                await inner.PublishAsync(messages, cancellationToken);
        }

        public ValueTask<ITransportSubscription> SubscribeAsync(TransportSubscriptionOptions options, CancellationToken cancellationToken = default) =>
            inner?.SubscribeAsync(options, cancellationToken) ?? ValueTask.FromResult<ITransportSubscription>(new IdleSubscription(options));

        public ValueTask<IReadOnlyList<TransportDeadLetter>> ReadDeadLettersAsync(int maxCount, CancellationToken cancellationToken = default) => new([]);

        public ValueTask<bool> RedriveDeadLetterAsync(string id, CancellationToken cancellationToken = default) => new(false);

        public IAsyncEnumerable<TransportMessage> TailAsync(IReadOnlyList<string> patterns, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public async ValueTask DisposeAsync()
        {
            Disposed = true;
            _gate.TrySetResult();
            if (inner is not null)
                await inner.DisposeAsync();
        }
    }

    private sealed class IdleSubscription(TransportSubscriptionOptions options) : ITransportSubscription
    {
        public string Group => options.Group;

        public IReadOnlyList<string> Patterns => options.Patterns;

        public async IAsyncEnumerable<ITransportDelivery> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            yield break;
        }

        public ValueTask DisposeAsync() => default;
    }
}
