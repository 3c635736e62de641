using Busbar.Diagnostics;
using Busbar.Dispatch;
using Busbar.Routing;
using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Engine;

/// <summary>The dead-letter store on its own: a clock, metrics, a router and a re-drive callback, no bus.</summary>
public class DeadLetterStoreTests
{
    [Fact]
    public void Add_BeyondCapacity_EvictsTheOldestAndCountsIt()
    {
        using var kit = new EngineTestKit();
        var subscription = kit.Subscribe("s", (_, _, _) => default);
        var store = Store(kit, capacity: 2, Unused);

        var first = store.Add(EngineTestKit.Context(1), subscription, Failed("s", "one"));
        store.Add(EngineTestKit.Context(2), subscription, Failed("s", "two"));
        store.Add(EngineTestKit.Context(3), subscription, Failed("s", "three"));

        Assert.Equal(2, store.Count);
        Assert.Equal(1, store.Evicted);
        Assert.Equal(["two", "three"], store.List().Select(l => l.ExceptionMessage));
        Assert.DoesNotContain(store.List(), l => l.Id == first.Id);
    }

    [Fact]
    public void Add_StampsTheLetterWithTheStoresClockAndTheHandlersAttempts()
    {
        using var kit = new EngineTestKit();
        var subscription = kit.Subscribe("s", (_, _, _) => default);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));
        var store = new DeadLetterStore(10, time, kit.Metrics, "store-test", kit.Router, Unused, _ => { });

        var letter = store.Add(EngineTestKit.Context(), subscription, Failed("s", "boom", attempts: 3));

        Assert.Equal(time.GetUtcNow(), letter.FailedAt);
        Assert.Equal(3, letter.Attempts);
        Assert.Equal("s", letter.SubscriptionName);
        Assert.Equal(typeof(InvalidOperationException).FullName, letter.ExceptionType);
    }

    [Fact]
    public async Task RedriveAsync_TakesTheLetterOutAndHandsItToTheCallbackWithItsLiveSubscription()
    {
        using var kit = new EngineTestKit();
        var old = kit.Subscribe("s", (_, _, _) => default);
        (DeadLetter Letter, Subscription Subscription)? seen = null;
        var store = Store(kit, capacity: 10, (letter, subscription, _) =>
        {
            seen = (letter, subscription);
            return new ValueTask<EventOutcome>(letter.Context.GetOutcome());
        });
        var letter = store.Add(EngineTestKit.Context(), old, Failed("s", "boom"));
        old.Dispose();
        var replacement = kit.Subscribe("s", (_, _, _) => default);

        await store.RedriveAsync(letter.Id).Within();

        Assert.Equal(letter.Id, seen!.Value.Letter.Id);
        Assert.Same(replacement, seen.Value.Subscription);
        Assert.Equal(0, store.Count);
        await Assert.ThrowsAsync<KeyNotFoundException>(async () => await store.RedriveAsync(letter.Id));
    }

    [Fact]
    public async Task RedriveAsync_SubscriptionNotRegistered_ThrowsNamingItAndKeepsTheLetter()
    {
        using var kit = new EngineTestKit();
        var subscription = kit.Subscribe("gone", (_, _, _) => default);
        var store = Store(kit, capacity: 10, Unused);
        var letter = store.Add(EngineTestKit.Context(), subscription, Failed("gone", "boom"));
        subscription.Dispose();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await store.RedriveAsync(letter.Id));

        Assert.Contains("'gone'", error.Message, StringComparison.Ordinal);
        Assert.Contains("'store-test'", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, store.Count);
    }

    private static DeadLetterStore Store(EngineTestKit kit, int capacity, Func<DeadLetter, Subscription, CancellationToken, ValueTask<EventOutcome>> redrive) =>
        new(capacity, TimeProvider.System, kit.Metrics, "store-test", kit.Router, redrive, _ => { });

    private static ValueTask<EventOutcome> Unused(DeadLetter letter, Subscription subscription, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("No re-drive expected.");

    private static HandlerResult Failed(string subscription, string message, int attempts = 1) =>
        new(subscription, HandlerStatus.Failed, null, new InvalidOperationException(message), attempts, TimeSpan.Zero);
}
