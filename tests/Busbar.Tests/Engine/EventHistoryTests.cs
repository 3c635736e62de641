using Busbar.Dispatch;

namespace Busbar.Tests.Engine;

/// <summary><see cref="EventHistory"/> on its own: a bounded ring of recent events and waiters for the next ones.</summary>
public class EventHistoryTests
{
    [Fact]
    public void Find_KeepsOnlyTheLastCapacityEvents()
    {
        var history = new EventHistory(3);
        for (var i = 0; i < 5; i++)
            history.Add(EngineTestKit.Context(i));

        var found = history.Find(_ => true);

        Assert.Equal([2, 3, 4], found.Select(h => ((Ping)h.Context.Event).Value).Order());
    }

    [Fact]
    public async Task WaitForAsync_EventAlreadyAdded_FoundByLookBack()
    {
        var history = new EventHistory(10);
        history.Add(EngineTestKit.Context(7));

        var handle = await history.WaitForAsync(c => ((Ping)c.Event).Value == 7, TimeSpan.FromSeconds(10), null, TimeProvider.System, TestTimeout.Token()).Within();

        Assert.True(handle.HasValue);
    }

    [Fact]
    public async Task WaitForAsync_EventAddedLater_Wakes()
    {
        var history = new EventHistory(10);
        var waiting = history.WaitForAsync(c => ((Ping)c.Event).Value == 9, TimeSpan.FromSeconds(20), null, TimeProvider.System, TestTimeout.Token()).AsTask();
        var expected = EngineTestKit.Context(9);

        history.Add(EngineTestKit.Context(1));
        history.Add(expected);

        var handle = await waiting.Within();
        Assert.Same(expected, handle!.Value.Context);
    }

    [Fact]
    public async Task WaitForAsync_NothingMatches_ReturnsNullAfterTimeout()
    {
        var history = new EventHistory(0);

        var handle = await history.WaitForAsync(_ => false, TimeSpan.FromMilliseconds(10), null, TimeProvider.System, TestTimeout.Token()).Within();

        Assert.Null(handle);
    }
}
