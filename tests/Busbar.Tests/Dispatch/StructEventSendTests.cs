namespace Busbar.Tests.Dispatch;

/// <summary>
/// A struct event sent inline to handlers that take no context stays unboxed: it is boxed only when a handler looks at the
/// send's context (<c>EventContext.Current</c>, a nested send or publish), and then the context holds that send's own event,
/// however sends of the same type nest on the thread.
/// </summary>
public sealed class StructEventSendTests
{
    [EventName("structs.reading")]
    public readonly record struct Reading(int Sensor, double Value);

    [EventName("structs.alarm")]
    public sealed record Alarm(int Sensor, Guid? Cause);

    [Fact]
    public async Task SendAsync_StructEventToContextFreeHandlers_AllocatesNothing()
    {
        await using var bus = EventBus.Create();
        var total = 0.0;
        bus.Subscribe<Reading>(r => total += r.Value);
        bus.Subscribe<Reading>(r => total -= r.Sensor);
        var sender = bus.GetSender<Reading>();
        for (var i = 0; i < 100; i++)
        {
            await bus.SendAsync(new Reading(1, 2));
            await sender.SendAsync(new Reading(1, 2));
        }

        var rounds = 0;
        var bytes = Allocations.SteadyRoundBytes(() =>
        {
            rounds++;
            for (var i = 0; i < 1_000; i++)
            {
                Assert.True(bus.SendAsync(new Reading(i, 2 * i)).IsCompletedSuccessfully);
                Assert.True(sender.SendAsync(new Reading(i, 2 * i)).IsCompletedSuccessfully);
            }
        });

        Assert.Equal(0, bytes);
        // Each send adds 2i - i = i, twice per iteration, after 200 warm-up sends of 2 - 1.
        Assert.Equal(200 + (rounds * 2.0 * 999 * 1_000 / 2), total);
    }

    [Fact]
    public async Task SendAsync_StructEventAHandlerLooksAt_ContextHoldsThatEventAndIsTheCauseOfItsSentAndQueuedChildren()
    {
        await using var bus = EventBus.Create();
        var seen = new List<(object? Payload, Guid Id)>();
        var alarms = new List<Alarm>();
        var causes = new List<Guid?>();
        var queued = new List<EventHandle>();
        bus.Subscribe<Reading>(r => { });
        bus.Subscribe<Reading>(r =>
        {
            var context = EventContext.Current!;
            seen.Add((context.Event, context.EventId));
            if (r.Value > 10)
            {
                bus.SendAsync(new Alarm(r.Sensor, null)).AsTask().GetAwaiter().GetResult();
                // A queued child too: its publish reads the same context (so the boxed event's id is its causation).
                queued.Add(bus.PublishAsync(new Alarm(-r.Sensor, null)).AsTask().GetAwaiter().GetResult());
            }
        });
        bus.Subscribe<Alarm>((a, context) =>
        {
            alarms.Add(a);
            causes.Add(context.CausationId);
        });

        await bus.SendAsync(new Reading(7, 3));
        await bus.SendAsync(new Reading(8, 30));

        var child = await Assert.Single(queued).WaitAsync(TestTimeout.Token());
        Assert.True(child.IsSuccess, child.Status.ToString());

        Assert.Equal([new Reading(7, 3), new Reading(8, 30)], seen.Select(s => s.Payload));
        Assert.Equal([new Alarm(8, null), new Alarm(-8, null)], alarms);
        Assert.Equal([seen[1].Id, seen[1].Id], causes);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(1201)]
    [InlineData(20261201)]
    public async Task SendAsync_StructEventsNestedOnOneThread_EveryHandlerSeesItsOwnEvent(int seed)
    {
        Console.WriteLine($"struct nesting seed {seed}");
        var random = new Random(seed);
        await using var bus = EventBus.Create();
        var depth = 0;
        var mismatches = new List<string>();
        var handled = 0;
        bus.Subscribe<Reading>(r =>
        {
            handled++;
            // Some handlers look at the context (which boxes that send's event), some send deeper first and look after.
            if (random.Next(3) == 0 && !Equals(EventContext.Current?.Event, r))
                mismatches.Add($"before nesting at depth {depth}: {EventContext.Current?.Event} for {r}");
            if (depth < 4 && random.Next(2) == 0)
            {
                depth++;
                bus.SendAsync(new Reading(r.Sensor + 1, r.Value * 10)).AsTask().GetAwaiter().GetResult();
                depth--;
            }

            if (random.Next(2) == 0 && !Equals(EventContext.Current?.Event, r))
                mismatches.Add($"after nesting at depth {depth}: {EventContext.Current?.Event} for {r}");
        });
        bus.Subscribe<Reading>(r =>
        {
            if (random.Next(4) == 0 && !Equals(EventContext.Current?.Event, r))
                mismatches.Add($"second handler: {EventContext.Current?.Event} for {r}");
        });

        for (var i = 0; i < 200; i++)
            await bus.SendAsync(new Reading(i * 100, i));

        Assert.Empty(mismatches);
        Assert.True(handled > 200, $"{handled} handler runs: the mix nested no send");
    }

    [Fact]
    public async Task SendAsync_StructEventHandlerThrows_FailureCarriesTheEventAndTheNextSendAllocatesNothing()
    {
        await using var bus = EventBus.Create(new EventBusOptions { DeadLetterInlineFailures = true });
        var after = 0;
        bus.Subscribe<Reading>(r =>
        {
            if (r.Sensor < 0)
                throw new InvalidOperationException("negative sensor");
        });
        bus.Subscribe<Reading>(_ => after++);

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => bus.SendAsync(new Reading(-1, 5)).AsTask());
        Assert.Equal("negative sensor", failure.Message);
        Assert.Equal(1, after);
        var letter = Assert.Single(bus.DeadLetters.List());
        Assert.Equal(new Reading(-1, 5), letter.Context.Event);

        var rounds = 0;
        var bytes = Allocations.SteadyRoundBytes(() =>
        {
            rounds++;
            for (var i = 0; i < 100; i++)
                Assert.True(bus.SendAsync(new Reading(i, i)).IsCompletedSuccessfully);
        });
        Assert.Equal(0, bytes);
        Assert.Equal(1 + (100 * rounds), after);
    }
}
