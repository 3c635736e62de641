using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Dispatch;

/// <summary>Dead-letter queries on the in-process store: list, re-drive, remove and purge by query, counts by exception type.</summary>
public sealed class DeadLetterQueryTests
{
    private static readonly DateTimeOffset s_start = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// A bus on a fake clock with three failing subscriptions: billing (orders.placed, InvalidOperationException),
    /// shipping (orders.shipped, TimeoutException) and payments (payments.captured, IOException).
    /// </summary>
    private static IEventBus FailingBus(FakeTimeProvider time, Func<bool>? up = null)
    {
        up ??= () => false;
        var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        bus.Subscribe<OrderPlaced>((_, _, _) => up() ? ValueTask.CompletedTask : throw new InvalidOperationException("card declined"), new SubscriptionOptions { Name = "billing" });
        bus.Subscribe<OrderShipped>((_, _, _) => up() ? ValueTask.CompletedTask : throw new TimeoutException("carrier down"), new SubscriptionOptions { Name = "shipping" });
        bus.Subscribe<PaymentCaptured>((_, _, _) => up() ? ValueTask.CompletedTask : throw new IOException("ledger full"), new SubscriptionOptions { Name = "payments" });
        return bus;
    }

    /// <summary>Publishes one event a minute (on the fake clock) and waits for each to fail: billing at +0, shipping at +1, payments at +2, billing at +3.</summary>
    private static async Task FailFour(IEventBus bus, FakeTimeProvider time)
    {
        object[] events = [new OrderPlaced(1), new OrderShipped(2), new PaymentCaptured(3, 10m), new OrderPlaced(4)];
        foreach (var e in events)
        {
            await (await bus.PublishAsync(e)).AsValueTask().Within();
            time.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.Equal(4, bus.DeadLetters.Count);
    }

    private static int[] OrderIds(IEnumerable<DeadLetter> letters) =>
        letters.Select(l => l.Context.Event switch
        {
            OrderPlaced o => o.OrderId,
            OrderShipped s => s.OrderId,
            PaymentCaptured p => p.OrderId,
            _ => -1,
        }).ToArray();

    [Fact]
    public async Task List_EachFilter_SelectsOnlyMatchingLetters()
    {
        var time = new FakeTimeProvider(s_start);
        await using var bus = FailingBus(time);
        await FailFour(bus, time);
        var store = bus.DeadLetters;

        Assert.Equal([1, 2, 3, 4], OrderIds(store.List(DeadLetterQuery.All)));
        Assert.Equal([1, 4], OrderIds(store.List(new DeadLetterQuery { SubscriptionName = "billing" })));
        Assert.Empty(store.List(new DeadLetterQuery { SubscriptionName = "Billing" }));
        Assert.Equal([2], OrderIds(store.List(new DeadLetterQuery { EventName = "orders.shipped" })));
        Assert.Equal([1, 2, 4], OrderIds(store.List(new DeadLetterQuery { EventName = "orders.*" })));
        Assert.Equal([3], OrderIds(store.List(new DeadLetterQuery { EventName = "payments.**" })));
        Assert.Equal([2], OrderIds(store.List(new DeadLetterQuery { ExceptionType = "System.TimeoutException" })));
        Assert.Equal([3], OrderIds(store.List(new DeadLetterQuery { ExceptionType = "IOException" })));
        Assert.Empty(store.List(new DeadLetterQuery { ExceptionType = "Exception" }));
    }

    [Fact]
    public async Task List_TimeRange_SinceInclusiveUntilExclusive()
    {
        var time = new FakeTimeProvider(s_start);
        await using var bus = FailingBus(time);
        await FailFour(bus, time);
        var store = bus.DeadLetters;

        Assert.Equal([2, 3, 4], OrderIds(store.List(new DeadLetterQuery { Since = s_start.AddMinutes(1) })));
        Assert.Equal([1, 2], OrderIds(store.List(new DeadLetterQuery { Until = s_start.AddMinutes(2) })));
        Assert.Equal([2, 3], OrderIds(store.List(new DeadLetterQuery { Since = s_start.AddMinutes(1), Until = s_start.AddMinutes(3) })));
        Assert.Empty(store.List(new DeadLetterQuery { Since = s_start.AddMinutes(2), Until = s_start.AddMinutes(2) }));
        Assert.Empty(store.List(new DeadLetterQuery { Since = s_start.AddHours(1) }));
    }

    [Fact]
    public async Task List_CombinedFilters_MatchAll()
    {
        var time = new FakeTimeProvider(s_start);
        await using var bus = FailingBus(time);
        await FailFour(bus, time);
        var store = bus.DeadLetters;

        var query = new DeadLetterQuery { SubscriptionName = "billing", EventName = "orders.placed", ExceptionType = "InvalidOperationException", Since = s_start.AddMinutes(1) };
        Assert.Equal([4], OrderIds(store.List(query)));
        Assert.True(query.Matches(store.List(query)[0]));
        Assert.Empty(store.List(query with { ExceptionType = "TimeoutException" }));
    }

    [Fact]
    public async Task Query_Invalid_ClearErrorNamingTheProperty()
    {
        await using var bus = EventBus.Create();
        var store = bus.DeadLetters;

        var range = Assert.Throws<ArgumentException>(() => store.List(new DeadLetterQuery { Since = s_start.AddMinutes(1), Until = s_start }));
        Assert.Contains("Since", range.Message, StringComparison.Ordinal);
        Assert.Contains("Until", range.Message, StringComparison.Ordinal);
        var empty = Assert.Throws<ArgumentException>(() => store.Purge(new DeadLetterQuery { SubscriptionName = " " }));
        Assert.Contains("SubscriptionName", empty.Message, StringComparison.Ordinal);
        var pattern = await Assert.ThrowsAsync<ArgumentException>(async () => await store.RedriveAsync(new DeadLetterQuery { EventName = "orders.**.x" }));
        Assert.Contains("EventName", pattern.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => store.List(null!));
    }

    [Fact]
    public async Task RedriveAsync_ByQuery_RedrivesOnlyMatchingAndReturnsOutcomes()
    {
        var time = new FakeTimeProvider(s_start);
        var up = false;
        await using var bus = FailingBus(time, () => up);
        await FailFour(bus, time);

        up = true;
        var outcomes = await bus.DeadLetters.RedriveAsync(new DeadLetterQuery { SubscriptionName = "billing" }).Within();

        Assert.Equal(2, outcomes.Count);
        Assert.All(outcomes, o => Assert.Equal(EventStatus.Completed, o.Status));
        Assert.Equal([2, 3], OrderIds(bus.DeadLetters.List()));
        Assert.Empty(await bus.DeadLetters.RedriveAsync(new DeadLetterQuery { SubscriptionName = "billing" }).Within());
    }

    [Fact]
    public async Task RedriveAsync_ByQuery_NewFailureGoesBackToStore()
    {
        var time = new FakeTimeProvider(s_start);
        await using var bus = FailingBus(time);
        await FailFour(bus, time);

        var outcomes = await bus.DeadLetters.RedriveAsync(new DeadLetterQuery { EventName = "orders.shipped" }).Within();

        Assert.Equal(EventStatus.Failed, Assert.Single(outcomes).Status);
        Assert.Equal(4, bus.DeadLetters.Count);
        Assert.Single(bus.DeadLetters.List(new DeadLetterQuery { EventName = "orders.shipped" }));
    }

    [Fact]
    public async Task RedriveAsync_ByQuery_UnregisteredSubscription_RefusedAndNothingRedriven()
    {
        var time = new FakeTimeProvider(s_start);
        var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        await using var _ = bus;
        var handled = 0;
        var up = false;
        bus.Subscribe<OrderPlaced>((_, _, _) => up ? ValueTask.CompletedTask : throw new InvalidOperationException("no"), new SubscriptionOptions { Name = "billing" });
        var gone = bus.Subscribe<OrderShipped>((_, _, _) => throw new InvalidOperationException("no"), new SubscriptionOptions { Name = "shipping" });
        await (await bus.PublishAsync(new OrderPlaced(1))).AsValueTask().Within();
        await (await bus.PublishAsync(new OrderShipped(2))).AsValueTask().Within();
        gone.Dispose();
        up = true;
        bus.Subscribe<OrderPlaced>(_ => handled++, new SubscriptionOptions { Name = "counter" });

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await bus.DeadLetters.RedriveAsync(DeadLetterQuery.All));

        Assert.Contains("'shipping'", ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, bus.DeadLetters.Count);
        Assert.Equal(0, handled);
        Assert.Single(await bus.DeadLetters.RedriveAsync(new DeadLetterQuery { SubscriptionName = "billing" }).Within());
    }

    [Fact]
    public async Task Remove_KnownId_RemovesOnce()
    {
        var time = new FakeTimeProvider(s_start);
        await using var bus = FailingBus(time);
        await FailFour(bus, time);
        var first = bus.DeadLetters.List()[0];

        Assert.True(bus.DeadLetters.Remove(first.Id));
        Assert.False(bus.DeadLetters.Remove(first.Id));
        Assert.False(bus.DeadLetters.Remove(Guid.NewGuid()));
        Assert.Equal([2, 3, 4], OrderIds(bus.DeadLetters.List()));
        await Assert.ThrowsAsync<KeyNotFoundException>(async () => await bus.DeadLetters.RedriveAsync(first.Id));
    }

    [Fact]
    public async Task Purge_ByQuery_RemovesMatchingAndReturnsCount()
    {
        var time = new FakeTimeProvider(s_start);
        await using var bus = FailingBus(time);
        await FailFour(bus, time);

        Assert.Equal(2, bus.DeadLetters.Purge(new DeadLetterQuery { EventName = "orders.placed" }));
        Assert.Equal([2, 3], OrderIds(bus.DeadLetters.List()));
        Assert.Equal(0, bus.DeadLetters.Purge(new DeadLetterQuery { EventName = "orders.placed" }));
        Assert.Equal(2, bus.DeadLetters.Purge(DeadLetterQuery.All));
        Assert.Equal(0, bus.DeadLetters.Count);
    }

    [Fact]
    public async Task CountsByExceptionType_CountsEachType()
    {
        var time = new FakeTimeProvider(s_start);
        await using var bus = FailingBus(time);
        Assert.Empty(bus.DeadLetters.CountsByExceptionType());
        await FailFour(bus, time);

        var counts = bus.DeadLetters.CountsByExceptionType();

        Assert.Equal(3, counts.Count);
        Assert.Equal(2, counts["System.InvalidOperationException"]);
        Assert.Equal(1, counts["System.TimeoutException"]);
        Assert.Equal(1, counts["System.IO.IOException"]);
    }
}
