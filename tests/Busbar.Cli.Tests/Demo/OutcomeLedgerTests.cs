using Busbar.Cli.Demo;

namespace Busbar.Cli.Tests.Demo;

public sealed class OutcomeLedgerTests
{
    [Fact]
    public async Task Track_FromInsideHandler_ChildWaitsInTheQueueInsteadOfJumpingIt()
    {
        // One worker: a child that waits its turn cannot run before its parent's handler returns.
        await using var bus = new EventBusBuilder().WithOptions(new EventBusOptions { MaxConcurrentEvents = 1 }).Build();
        var ledger = new OutcomeLedger();
        var childDoneWhenParentReturned = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var queueDepthAfterTrack = -1;
        bus.Subscribe<string>(static (_, _, _) => ValueTask.CompletedTask);
        bus.Subscribe<int>(
            async (_, _, ct) =>
            {
                var child = await bus.PublishAsync("child", cancellationToken: ct);
                ledger.Track(child, isOrder: false);

                // Give a queue jump every chance to happen before the handler returns: it would run the child right here.
                await Task.Yield();
                queueDepthAfterTrack = bus.GetStatistics().QueueDepth;
                childDoneWhenParentReturned.TrySetResult(child.IsCompleted);
            });

        var parent = await bus.PublishAsync(1);
        await parent;
        await ledger.SettleAsync();

        Assert.False(await childDoneWhenParentReturned.Task, "the child was handled inside its parent's handler: a queue jump");
        Assert.Equal(1, queueDepthAfterTrack);
        Assert.Equal(1, ledger.Published);
        Assert.Equal(1, ledger.Completed);
        Assert.Equal(1, ledger.Children);
    }
}
