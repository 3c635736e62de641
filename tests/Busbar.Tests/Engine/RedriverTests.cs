using Busbar.Dispatch;
using Busbar.Routing;

namespace Busbar.Tests.Engine;

/// <summary>The re-drive on its own: the engine, a router, a store and a settler, no bus.</summary>
public class RedriverTests
{
    [Fact]
    public async Task RedriveAsync_HandlerSucceedsNow_RunsOnlyTheLettersSubscriptionWithTheNextAttemptAndNoDeadline()
    {
        using var kit = new EngineTestKit();
        var calls = 0;
        EventContext? seen = null;
        var flaky = kit.Subscribe("flaky", (_, context, _) =>
        {
            seen = context;
            return ++calls == 1 ? throw new InvalidOperationException("boom") : default;
        });
        var other = 0;
        kit.Subscribe("other", (_, _, _) =>
        {
            other++;
            return default;
        });
        var (store, _) = Parts(kit);
        var source = EngineTestKit.Context();
        source.Deadline = DateTimeOffset.UnixEpoch;
        var letter = store.Add(source, flaky, new HandlerResult("flaky", HandlerStatus.Failed, null, new InvalidOperationException("boom"), 2, TimeSpan.Zero));
        calls = 1;

        var outcome = await store.RedriveAsync(letter.Id).Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal("flaky", Assert.Single(outcome.Handlers).SubscriptionName);
        Assert.Equal(0, other);
        Assert.Equal(source.Attempt + 2, seen!.Attempt);
        Assert.Null(seen.Deadline);
        Assert.Equal(source.EventId, seen.EventId);
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public async Task RedriveAsync_HandlerFailsAgain_FailedAndADeadLetterAgain()
    {
        using var kit = new EngineTestKit();
        var broken = kit.Subscribe("broken", (_, _, _) => throw new InvalidOperationException("still broken"));
        var (store, _) = Parts(kit);
        var letter = store.Add(EngineTestKit.Context(), broken, new HandlerResult("broken", HandlerStatus.Failed, null, new InvalidOperationException("boom"), 1, TimeSpan.Zero));

        var outcome = await store.RedriveAsync(letter.Id).Within();

        Assert.Equal(EventStatus.Failed, outcome.Status);
        var again = Assert.Single(store.List());
        Assert.NotEqual(letter.Id, again.Id);
        Assert.Equal("still broken", again.ExceptionMessage);
        Assert.Equal(letter.Context.EventId, again.Context.EventId);
    }

    /// <summary>A store whose re-drive is a <see cref="Redriver"/>, composed as the bus composes them (no log).</summary>
    private static (DeadLetterStore Store, Redriver Redriver) Parts(EngineTestKit kit)
    {
        Redriver? redriver = null;
        var store = new DeadLetterStore(10, TimeProvider.System, kit.Metrics, "redrive-test", kit.Router, (l, s, t) => redriver!.RedriveAsync(l, s, t), _ => { });
        var settler = new LocalSettler(store, null, kit.Metrics, null, deadLetterFailures: true);
        redriver = new Redriver(kit.Dispatcher, kit.Router, settler, null, null, null, "redrive-test");
        return (store, redriver);
    }
}
