namespace Busbar.Tests.Dispatch;

public class SmokeTests
{
    [Fact]
    public async Task PublishAsync_OneHandler_HandlesAndCompletes()
    {
        await using var bus = EventBus.Create();
        var seen = new List<int>();
        bus.Subscribe<Ping>(p => seen.Add(p.Value));
        var handle = await bus.PublishAsync(new Ping(7));
        var outcome = await handle.AsValueTask().Within();
        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal([7], seen);
        Assert.Single(outcome.Handlers);
    }

    [Fact]
    public async Task SendAsync_Inline_RunsHandlers()
    {
        await using var bus = EventBus.Create();
        var count = 0;
        bus.Subscribe<Ping>(p => count += p.Value);
        await bus.SendAsync(new Ping(2));
        await bus.SendAsync(new Ping(3));
        Assert.Equal(5, count);
    }
}
