using Busbar.Dispatch;
using Busbar.Engine;

namespace Busbar.Tests.Engine;

/// <summary><see cref="EventWorkers"/> fed by a queue, with a test source instead of a bus.</summary>
public class EventWorkersTests
{
    [Fact]
    public async Task Workers_OrderingKey_RunsOneAtATimeInOrder_OtherKeysInParallel()
    {
        const int PerKey = 50;
        var queue = new EventQueue(1_000, workers: 2, new InFlightCounter());
        var lockObject = new Lock();
        var seen = new Dictionary<string, List<int>>();
        var running = new Dictionary<string, int>();
        var overlaps = 0;
        var done = 0;
        var allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async ValueTask Process(EventContext context, HandlerClock clock)
        {
            var key = context.OrderingKey!;
            lock (lockObject)
            {
                if (running.GetValueOrDefault(key) > 0)
                    overlaps++;
                running[key] = running.GetValueOrDefault(key) + 1;
            }

            await Task.Yield();
            lock (lockObject)
            {
                running[key]--;
                (seen.TryGetValue(key, out var list) ? list : seen[key] = []).Add(((Ping)context.Event).Value);
            }

            if (Interlocked.Increment(ref done) == 2 * PerKey)
                allDone.SetResult();
        }

        var workers = new EventWorkers(queue, 4, Process, (_, ex) => allDone.TrySetException(ex));
        workers.Start();
        for (var i = 0; i < PerKey; i++)
        {
            foreach (var key in new[] { "a", "b" })
            {
                var context = EngineTestKit.Context(i);
                context.OrderingKey = key;
                Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(context, 1_000, dropOldest: false, out _));
            }
        }

        await allDone.Task.Within();
        queue.Close();
        await workers.WaitAsync().Within();

        Assert.Equal(0, overlaps);
        Assert.Equal(Enumerable.Range(0, PerKey), seen["a"]);
        Assert.Equal(Enumerable.Range(0, PerKey), seen["b"]);
    }

    [Fact]
    public async Task Workers_ProcessThrows_FaultEndsThatEventAndTheWorkerGoesOn()
    {
        var queue = new EventQueue(10, workers: 1, new InFlightCounter());
        var faulted = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var processed = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var workers = new EventWorkers(
            queue,
            1,
            (context, _) =>
            {
                var value = ((Ping)context.Event).Value;
                if (value == 1)
                    throw new InvalidOperationException("bug");
                processed.TrySetResult(value);
                return default;
            },
            (context, _) => faulted.TrySetResult(((Ping)context.Event).Value));
        workers.Start();

        queue.TryEnqueue(EngineTestKit.Context(1), 10, dropOldest: false, out _);
        queue.TryEnqueue(EngineTestKit.Context(2), 10, dropOldest: false, out _);

        Assert.Equal(1, await faulted.Task.Within());
        Assert.Equal(2, await processed.Task.Within());
        queue.Close();
        await workers.WaitAsync().Within();
    }
}
