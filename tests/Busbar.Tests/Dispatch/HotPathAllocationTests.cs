namespace Busbar.Tests.Dispatch;

/// <summary>
/// What the worker allocates per queued event, measured on the worker's own thread between the handlers of
/// consecutive events (so other tests running in parallel do not count).
/// </summary>
public class HotPathAllocationTests
{
    private const int Events = 200;

    [Fact]
    public async Task PublishAsync_WarmWorker_AllocatesNoAmbientFrameObjectPerEvent()
    {
        // Per event the worker allocates the execution context that makes the event ambient (72 B: an async-local
        // write) and the one-handler result array (72 B). A separate frame object per event (+72 B) would exceed this.
        var perEvent = await MedianWorkerBytesPerEventAsync(handlers: 1, HandlerConcurrency.Serial);
        Assert.True(perEvent <= 160, $"the worker allocated {perEvent} B per queued event");
    }

    [Fact]
    public async Task PublishAsync_WarmWorkerSolePlainHandler_AllocatesNoResultArray()
    {
        // Only the execution context that makes the event ambient (72 B) is left: a sole handler that succeeds
        // with no value keeps its duration on the context instead of in a one-entry result array (72 B more).
        var perEvent = await MedianWorkerBytesPerEventAsync(handlers: 1, HandlerConcurrency.Serial);
        Assert.True(perEvent <= 80, $"the worker allocated {perEvent} B per queued event");
    }

    [Fact]
    public async Task PublishAsync_ParallelTierOfSynchronousHandlers_AllocatesAsMuchAsSerial()
    {
        // Handlers that complete synchronously start inline on the serial synchronous path: no ambient frame, state
        // machine, cancellation scope or join of their own. Before, each handler paid for a frame and a state machine
        // (about 200 B more per handler), and then the general path's cancellation scope (88 B more per event).
        var serial = await MedianWorkerBytesPerEventAsync(handlers: 8, HandlerConcurrency.Serial);
        var parallel = await MedianWorkerBytesPerEventAsync(handlers: 8, HandlerConcurrency.Parallel);
        Assert.True(parallel <= serial, $"the worker allocated {parallel} B per event with a parallel tier of 8, {serial} B with a serial one");
    }

    [Theory]
    [InlineData(HandlerConcurrency.Serial)]
    [InlineData(HandlerConcurrency.Parallel)]
    public async Task PublishAsync_WarmWorkerFanOutOfPlainHandlers_AllocatesNoHandlerResultArray(HandlerConcurrency concurrency)
    {
        // The execution context (72 B) and the durations of 8 plain successes (an int array, 56 B). An array of 8
        // handler results was 440 B; this bound leaves room for a long array, not for that.
        var perEvent = await MedianWorkerBytesPerEventAsync(handlers: 8, concurrency);
        Assert.True(perEvent <= 160, $"the worker allocated {perEvent} B per event with 8 handlers, {concurrency}");
    }

    /// <summary>Publishes while the first handler holds the worker, then measures the batch the worker drains in one go.</summary>
    internal static async Task<long> MedianWorkerBytesPerEventAsync(int handlers, HandlerConcurrency concurrency)
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = Events * 2, HandlerConcurrency = concurrency });
        using var gate = new ManualResetEventSlim();
        var marks = new long[Events + 1];
        var threads = new int[Events + 1];
        bus.Subscribe<Ping>((p, _, _) =>
        {
            if (p.Value == 0)
                gate.Wait(TestTimeout.Default);
            marks[p.Value] = GC.GetAllocatedBytesForCurrentThread();
            threads[p.Value] = Environment.CurrentManagedThreadId;
            return ValueTask.CompletedTask;
        });
        for (var h = 1; h < handlers; h++)
            bus.Subscribe<Ping>(static (_, _, _) => ValueTask.CompletedTask);

        var handles = new List<EventHandle>();
        for (var i = 0; i <= Events; i++)
            handles.Add(await bus.PublishAsync(new Ping(i)));
        gate.Set();

        // Polled, not awaited: a handle awaited while its event runs makes the worker build the outcome for the waiter
        // (with several handlers, the full results), which would be counted as the worker's per-event cost.
        await TestTimeout.Until(() => handles.TrueForAll(h => h.IsCompleted), what: "every event handled");

        var deltas = new List<long>();
        for (var i = Events / 2; i < Events; i++)
        {
            // Only pairs handled back to back on one thread say what one event costs the worker.
            if (threads[i] == threads[i + 1])
                deltas.Add(marks[i + 1] - marks[i]);
        }

        Assert.True(deltas.Count > Events / 4, $"only {deltas.Count} consecutive events ran on one thread");
        deltas.Sort();
        return deltas[deltas.Count / 2];
    }
}
