using System.Collections.Concurrent;
using Busbar.Dispatch;
using Busbar.Transport;
using Busbar.Transport.Contract;
using Xunit.Abstractions;
using ContractOrder = Busbar.Transport.Contract.OrderPlaced;

namespace Busbar.Tests.Transport;

/// <summary>
/// The bus's publish sender on a transport: events that wait while the most batches are on their way go to the transport
/// together in the next <see cref="IEventTransport.PublishAsync"/> call, in the order they were published; each handle ends with its
/// own batch's answer; the window, <see cref="BusFullMode"/> and stop still hold. The transport here is scripted: each call
/// waits for the test to let it answer, and a chosen call fails.
/// </summary>
public sealed class TransportPublishBatchingTests(ITestOutputHelper output)
{
    private static EventTypeRegistry Events() => new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);

    private static ContractOrder Placed(int number, string publisher = "c") => new(number, publisher);

    private static IEventBus Bus(IEventTransport transport, EventBusOptions? options = null) =>
        new EventBusBuilder().WithOptions(options ?? new EventBusOptions()).UseTransport(transport, Events()).Build();

    /// <summary>Publishes events 0 … <c>MaxBatchesInFlight</c> − 1 one by one, each its own call, none answered: the sender can start no more batches.</summary>
    private static async Task<List<EventHandle>> FillBatchesAsync(IEventBus bus, ScriptedTransport transport)
    {
        var handles = new List<EventHandle>();
        for (var i = 0; i < TransportLink.MaxBatchesInFlight; i++)
        {
            handles.Add(await bus.PublishAsync(Placed(i)));
            await TestTimeout.Until(() => transport.Calls.Count == i + 1, what: $"call {i}");
        }

        return handles;
    }

    [Fact]
    public async Task PublishAsync_WhileTheBatchesAreOnTheirWay_TheEventsQueuedMeanwhileGoInOneCallInOrder()
    {
        await using var transport = new ScriptedTransport();
        await using var bus = Bus(transport);
        var first = await FillBatchesAsync(bus, transport);

        var queued = new List<EventHandle>();
        for (var i = 4; i < 54; i++)
            queued.Add(await bus.PublishAsync(Placed(i)));
        transport.Answer(5);

        foreach (var handle in first.Concat(queued))
            Assert.Equal(EventStatus.Completed, (await handle.AsTask().Within()).Status);
        Assert.Equal([1, 1, 1, 1, 50], transport.Calls.Select(c => c.Length));
        Assert.Equal(Enumerable.Range(0, 54), transport.Calls.SelectMany(c => c).Select(ScriptedTransport.Number));
        Assert.Equal(queued.Select(h => h.EventId), transport.Calls.ElementAt(4).Select(m => m.EventId));
    }

    [Fact]
    public async Task PublishAsync_MoreQueuedThanOneBatch_SplitIntoBatchesOfAtMostTheMaximum()
    {
        await using var transport = new ScriptedTransport();
        await using var bus = Bus(transport);
        await FillBatchesAsync(bus, transport);

        var handles = new List<EventHandle>();
        for (var i = 4; i < 304; i++)
            handles.Add(await bus.PublishAsync(Placed(i)));
        transport.Answer(6);

        foreach (var handle in handles)
            Assert.Equal(EventStatus.Completed, (await handle.AsTask().Within()).Status);
        Assert.Equal([1, 1, 1, 1, TransportLink.MaxBatch, 300 - TransportLink.MaxBatch], transport.Calls.Select(c => c.Length));
        Assert.Equal(Enumerable.Range(0, 304), transport.Calls.SelectMany(c => c).Select(ScriptedTransport.Number));
    }

    [Fact]
    public async Task PublishAsync_BrokerFailsOneBatch_ExactlyItsHandlesFailWithTheBrokersException()
    {
        var refused = new InvalidOperationException("broker refused the batch");
        await using var transport = new ScriptedTransport();
        transport.Failures[4] = refused;
        await using var bus = Bus(transport);
        var before = await FillBatchesAsync(bus, transport);
        var failing = new List<EventHandle>();
        for (var i = 4; i < 14; i++)
            failing.Add(await bus.PublishAsync(Placed(i)));
        transport.Answer(1);
        await TestTimeout.Until(() => transport.Calls.Count == 5, what: "the failing call");
        var after = new List<EventHandle>();
        for (var i = 14; i < 19; i++)
            after.Add(await bus.PublishAsync(Placed(i)));

        transport.Answer(5);

        foreach (var handle in failing)
        {
            var outcome = await handle.AsTask().Within();
            Assert.Equal(EventStatus.Failed, outcome.Status);
            var result = Assert.Single(outcome.Handlers);
            Assert.Same(refused, result.Exception);
            Assert.Equal(HandlerStatus.Failed, result.Status);
            Assert.Same(refused, Assert.Throws<InvalidOperationException>(() => outcome.ThrowIfFailed()));
        }

        foreach (var handle in before.Concat(after))
        {
            var outcome = await handle.AsTask().Within();
            Assert.Equal(EventStatus.Completed, outcome.Status);
            Assert.Empty(outcome.Handlers);
        }

        Assert.Equal([1, 1, 1, 1, 10, 5], transport.Calls.Select(c => c.Length));
    }

    [Theory]
    [InlineData(BusFullMode.Reject)]
    [InlineData(BusFullMode.DropNewest)]
    [InlineData(BusFullMode.DropOldest)]
    [InlineData(BusFullMode.Wait)]
    public async Task PublishAsync_QueuedEventsHoldTheirPlaceInTheWindow_FullModeAppliesToTheNext(BusFullMode mode)
    {
        await using var transport = new ScriptedTransport();
        await using var bus = Bus(transport, new EventBusOptions { Capacity = 6, FullMode = mode });
        var sent = await FillBatchesAsync(bus, transport);
        sent.Add(await bus.PublishAsync(Placed(4)));
        sent.Add(await bus.PublishAsync(Placed(5)));

        // Four batches on their way and two events queued: the window of 6 is full.
        Task<EventHandle>? waiting = null;
        switch (mode)
        {
            case BusFullMode.Reject:
                await Assert.ThrowsAsync<BusFullException>(async () => await bus.PublishAsync(Placed(6)));
                break;
            case BusFullMode.Wait:
                waiting = bus.PublishAsync(Placed(6)).AsTask();
                Assert.False(waiting.IsCompleted);
                break;
            default:
                Assert.Equal(EventStatus.Dropped, (await (await bus.PublishAsync(Placed(6))).AsTask().Within()).Status);
                break;
        }

        Assert.Equal(4, transport.Calls.Count);
        transport.Answer(6);

        foreach (var handle in sent)
            Assert.Equal(EventStatus.Completed, (await handle.AsTask().Within()).Status);
        if (waiting is not null)
        {
            Assert.Equal(EventStatus.Completed, (await (await waiting.Within()).AsTask().Within()).Status);
            Assert.Equal(Enumerable.Range(0, 7), transport.Calls.SelectMany(c => c).Select(ScriptedTransport.Number));
        }
        else
        {
            Assert.Equal(Enumerable.Range(0, 6), transport.Calls.SelectMany(c => c).Select(ScriptedTransport.Number));
        }
    }

    [Fact]
    public async Task StopAsync_WithEventsQueuedBehindTheBatches_SendsThemAllBeforeItEnds()
    {
        await using var transport = new ScriptedTransport();
        await using var bus = Bus(transport);
        var handles = await FillBatchesAsync(bus, transport);
        for (var i = 4; i < 10; i++)
            handles.Add(await bus.PublishAsync(Placed(i)));

        var stop = bus.StopAsync(TimeSpan.FromSeconds(30), TestTimeout.Token(TimeSpan.FromSeconds(60)));
        Assert.False(stop.IsCompleted);
        transport.Answer(5);
        await stop.AsTask().Within();

        foreach (var handle in handles)
            Assert.Equal(EventStatus.Completed, (await handle.AsTask().Within()).Status);
        Assert.Equal(Enumerable.Range(0, 10), transport.Calls.SelectMany(c => c).Select(ScriptedTransport.Number));
    }

    [Theory]
    [InlineData(14_001)]
    [InlineData(14_002)]
    [InlineData(14_003)]
    public async Task PublishAsync_ConcurrentPublishers_EachHandleItsOwnOutcomeAndEachPublishersOrderKept(int seed)
    {
        var random = new Random(seed);
        var publishers = random.Next(3, 9);
        var counts = Enumerable.Range(0, publishers).Select(_ => random.Next(20, 150)).ToArray();
        var failEvery = random.Next(3, 7);
        output.WriteLine($"seed {seed}: {publishers} publishers, counts {string.Join(",", counts)}, every {failEvery}th call fails");
        var refused = new InvalidOperationException("scripted broker failure");
        await using var transport = new ScriptedTransport { AutoAnswer = true, Seed = seed, FailEvery = failEvery, AutoFailure = refused };
        await using var bus = Bus(transport, new EventBusOptions { Capacity = 64, FullMode = BusFullMode.Wait });

        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = Enumerable.Range(0, publishers).Select(p => Task.Run(async () =>
        {
            var yields = new Random(seed * 31 + p);
            await start.Task;
            var handles = new List<EventHandle>(counts[p]);
            for (var i = 0; i < counts[p]; i++)
            {
                handles.Add(await bus.PublishAsync(Placed(i, $"p{p}")));
                if (yields.Next(4) == 0)
                    await Task.Yield();
            }

            return handles;
        })).ToArray();
        start.SetResult();
        var all = await Task.WhenAll(runs).Within();

        // Every handle ends with the answer to the call that carried its own event.
        var outcomes = new Dictionary<Guid, EventOutcome>();
        foreach (var handle in all.SelectMany(h => h))
            outcomes.Add(handle.EventId, await handle.AsTask().Within());
        var callOf = new Dictionary<Guid, int>();
        var calls = transport.Calls.ToArray();
        for (var c = 0; c < calls.Length; c++)
        {
            foreach (var message in calls[c])
                callOf.Add(message.EventId, c);
        }

        for (var p = 0; p < publishers; p++)
        {
            foreach (var handle in all[p])
            {
                var outcome = outcomes[handle.EventId];
                Assert.Equal(handle.EventId, outcome.Context.EventId);
                var failed = transport.Failed(callOf[handle.EventId]);
                Assert.Equal(failed ? EventStatus.Failed : EventStatus.Completed, outcome.Status);
                if (failed)
                    Assert.Same(refused, Assert.Single(outcome.Handlers).Exception);
            }

            // The transport saw each publisher's events once, in the order they were published.
            var seen = calls.SelectMany(c => c).Select(ScriptedTransport.Decode).Where(e => e.Customer == $"p{p}").Select(e => e.Number);
            Assert.Equal(Enumerable.Range(0, counts[p]), seen);
        }

        Assert.Equal(counts.Sum(), callOf.Count);
    }

    /// <summary>
    /// Records every <see cref="PublishAsync"/> call's batch. A call waits until <see cref="Answer"/> lets it through (or
    /// answers at once with <see cref="AutoAnswer"/>, after a few seeded yields); the calls in <see cref="Failures"/> (by
    /// index), or every <see cref="FailEvery"/>th, throw.
    /// </summary>
    private sealed class ScriptedTransport : IEventTransport
    {
        private static readonly EnvelopeCodec s_codec = new(Events());
        private readonly SemaphoreSlim _answers = new(0);
        private readonly object _lock = new();
        private Random? _random;

        public ConcurrentQueue<TransportMessage[]> Calls { get; } = new();

        public ConcurrentDictionary<int, Exception> Failures { get; } = new();

        public bool AutoAnswer { get; init; }

        public int Seed { get; init; }

        public int FailEvery { get; init; }

        public Exception? AutoFailure { get; init; }

        public static ContractOrder Decode(TransportMessage message) => (ContractOrder)s_codec.Decode(message.Name, message.Envelope).Event!.Payload;

        public static int Number(TransportMessage message) => Decode(message).Number;

        public IEnumerable<int> Numbers(int call) => Calls.ElementAt(call).Select(Number);

        public bool Failed(int call) => Failures.ContainsKey(call) || (FailEvery > 0 && call % FailEvery == FailEvery - 1);

        public void Answer(int calls) => _answers.Release(calls);

        public async ValueTask PublishAsync(IReadOnlyList<TransportMessage> messages, CancellationToken cancellationToken = default)
        {
            int index;
            lock (_lock)
            {
                index = Calls.Count;
                Calls.Enqueue([.. messages]);
            }

            if (AutoAnswer)
            {
                int yields;
                lock (_lock)
                    yields = (_random ??= new Random(Seed)).Next(3);
                for (var i = 0; i < yields; i++)
                    await Task.Yield();
            }
            else
            {
                await _answers.WaitAsync(TestTimeout.Token());
            }

            if (Failures.TryGetValue(index, out var failure))
                throw failure;
            if (FailEvery > 0 && index % FailEvery == FailEvery - 1)
                throw AutoFailure!;
        }

        public ValueTask<ITransportSubscription> SubscribeAsync(TransportSubscriptionOptions options, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<ITransportSubscription>(new IdleSubscription(options));

        public ValueTask<IReadOnlyList<TransportDeadLetter>> ReadDeadLettersAsync(int maxCount, CancellationToken cancellationToken = default) => new([]);

        public ValueTask<bool> RedriveDeadLetterAsync(string id, CancellationToken cancellationToken = default) => new(false);

        public IAsyncEnumerable<TransportMessage> TailAsync(IReadOnlyList<string> patterns, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask DisposeAsync()
        {
            _answers.Release(1000);
            return default;
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
