using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Api;

public class WaitForAsyncTests
{
    [Fact]
    public async Task WaitForAsync_TypedWithoutPredicate_ReturnsTheEventAsTWithItsContextAndHandle()
    {
        await using var bus = EventBus.Create();
        var published = await bus.PublishAsync(new Ping(5));

        var match = await bus.WaitForAsync<Ping>(TimeSpan.FromSeconds(10)).Within();

        Assert.True(match.HasValue);
        Ping ping = match.Value.Event;
        Assert.Equal(5, ping.Value);
        Assert.Equal("test.ping", match.Value.Context.Name);
        Assert.Equal(published.EventId, match.Value.Handle.EventId);
        Assert.Same(match.Value.Handle.Context, match.Value.Context);
        Assert.Equal(EventStatus.Completed, (await match.Value.Handle.AsValueTask().Within()).Status);
    }

    [Fact]
    public async Task WaitForAsync_PatternWithoutPredicate_ReturnsTheEvent()
    {
        await using var bus = EventBus.Create();
        await bus.PublishAsync(new OrderShipped(8));

        var match = await bus.WaitForAsync("orders.*", TimeSpan.FromSeconds(10)).Within();

        Assert.True(match.HasValue);
        Assert.Equal(new OrderShipped(8), match.Value.Event);
        Assert.Equal("orders.shipped", match.Value.Context.Name);
    }

    [Fact]
    public async Task WaitForAsync_SeveralMatchInHistory_ReturnsTheLatest()
    {
        await using var bus = EventBus.Create();
        for (var i = 1; i <= 3; i++)
            await bus.PublishAsync(new Ping(i));

        var typed = await bus.WaitForAsync<Ping>((p, _) => p.Value < 3, TimeSpan.FromSeconds(10)).Within();
        var byName = await bus.WaitForAsync("test.ping", TimeSpan.FromSeconds(10)).Within();

        Assert.Equal(2, typed!.Value.Event.Value);
        Assert.Equal(new Ping(3), byName!.Value.Event);
    }

    [Fact]
    public async Task WaitForAsync_NoneInHistory_ReturnsTheFirstPublishedAfterTheCall()
    {
        await using var bus = EventBus.Create();
        var wait = bus.WaitForAsync<Ping>(TimeSpan.FromSeconds(10)).AsTask();
        await bus.PublishAsync(new Ping(1));
        await bus.PublishAsync(new Ping(2));

        Assert.Equal(1, (await wait.Within())!.Value.Event.Value);
    }

    [Fact]
    public async Task WaitForAsync_WithoutPredicateTimesOut_ReturnsNull()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        var wait = bus.WaitForAsync<Ping>(TimeSpan.FromSeconds(5)).AsTask();
        time.Advance(TimeSpan.FromSeconds(5));

        Assert.Null(await wait.Within());
    }

    [Fact]
    public async Task WaitForAsync_InvalidPattern_ThrowsAtTheCall()
    {
        await using var bus = EventBus.Create();

        Assert.Throws<ArgumentException>(() => bus.WaitForAsync("orders..placed", TimeSpan.FromSeconds(1)));
    }
}
