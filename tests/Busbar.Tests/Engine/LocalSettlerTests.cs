using Busbar.Dispatch;

namespace Busbar.Tests.Engine;

/// <summary>The local settler on its own: a dead-letter store, metrics and an in-flight count, no bus.</summary>
public class LocalSettlerTests
{
    [Fact]
    public async Task Settle_FailedHandler_DeadLetterAndCountsAreDoneBeforeTheHandleCompletes()
    {
        using var kit = new EngineTestKit();
        kit.Subscribe("ok", (_, _, _) => default);
        kit.Subscribe("broken", (_, _, _) => throw new InvalidOperationException("boom"));
        var store = new DeadLetterStore(10, TimeProvider.System, kit.Metrics, "settler-test", kit.Router, NoRedrive, _ => { });
        var inFlight = new InFlightCounter();
        inFlight.Enter();
        var settler = new LocalSettler(store, null, kit.Metrics, inFlight, deadLetterFailures: true);
        var context = EngineTestKit.Context();
        context.Route = kit.Route();
        var status = await kit.DispatchAsync(context).Within();
        int? lettersSeenByAwaiter = null;
        long? inFlightSeenByAwaiter = null;
        var awaiter = context.WaitForOutcomeAsync().AsTask().ContinueWith(
            _ =>
            {
                lettersSeenByAwaiter = store.Count;
                inFlightSeenByAwaiter = inFlight.Value;
            },
            TaskScheduler.Default);

        settler.Settle(context, status);
        await awaiter.Within();

        Assert.Equal(EventStatus.Failed, status);
        Assert.Equal(EventStatus.Failed, context.GetOutcome().Status);
        Assert.Equal("broken", Assert.Single(store.List()).SubscriptionName);
        Assert.Equal(1, lettersSeenByAwaiter);
        Assert.Equal(0, inFlightSeenByAwaiter);
    }

    [Fact]
    public async Task Settle_WithoutDeadLetteringFailures_KeepsNoLetterAndLeavesNoCount()
    {
        // The inline settler: failures are returned to the caller, and an inline event was never in flight.
        using var kit = new EngineTestKit();
        kit.Subscribe("broken", (_, _, _) => throw new InvalidOperationException("boom"));
        var store = new DeadLetterStore(10, TimeProvider.System, kit.Metrics, "settler-test", kit.Router, NoRedrive, _ => { });
        var settler = new LocalSettler(store, null, kit.Metrics, null, deadLetterFailures: false);
        var context = EngineTestKit.Context();
        context.Route = kit.Route();

        settler.Settle(context, await kit.DispatchAsync(context).Within());

        Assert.Equal(0, store.Count);
        Assert.Equal(EventStatus.Failed, (await context.WaitForOutcomeAsync().Within()).Status);
    }

    [Fact]
    public async Task Settle_Twice_OnlyTheFirstStatusCounts()
    {
        using var kit = new EngineTestKit();
        var store = new DeadLetterStore(10, TimeProvider.System, kit.Metrics, "settler-test", kit.Router, NoRedrive, _ => { });
        var inFlight = new InFlightCounter();
        inFlight.Enter();
        var settler = new LocalSettler(store, null, kit.Metrics, inFlight, deadLetterFailures: true);
        var context = EngineTestKit.Context();

        settler.Settle(context, EventStatus.Cancelled);
        settler.Settle(context, EventStatus.Completed);

        Assert.Equal(EventStatus.Cancelled, (await context.WaitForOutcomeAsync().Within()).Status);
        Assert.Equal(0, inFlight.Value);
    }

    private static ValueTask<EventOutcome> NoRedrive(DeadLetter letter, Busbar.Routing.Subscription subscription, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("No re-drive expected.");
}
