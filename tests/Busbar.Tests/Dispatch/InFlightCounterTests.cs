using Busbar.Dispatch;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// <see cref="InFlightCounter"/>: counted in under the queue's lock, out by whoever completes an event, concurrently. Its value
/// never falls below the queue's depth read under that lock nor below zero, and during a stop exactly the last event out signals
/// the drain.
/// </summary>
public class InFlightCounterTests
{
    [Fact]
    public void LeaveDuringStop_NotStopping_NeverSignalsAndCountsOut()
    {
        var counter = new InFlightCounter();
        counter.Enter();
        counter.Enter();

        Assert.False(counter.LeaveDuringStop());
        Assert.False(counter.LeaveDuringStop());
        Assert.Equal(0, counter.Value);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public async Task LeaveDuringStop_ConcurrentLeavers_OnlyTheLastOneSignals(int leavers)
    {
        const int PerLeaver = 20_000;
        for (var round = 0; round < 5; round++)
        {
            var counter = new InFlightCounter();
            for (var i = 0; i < leavers * PerLeaver; i++)
                counter.Enter();
            var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            counter.BeginStop(drained);
            var signals = 0;
            using var start = new Barrier(leavers);
            var tasks = Enumerable.Range(0, leavers).Select(_ => Task.Run(() =>
            {
                start.SignalAndWait(TestTimeout.Default);
                for (var i = 0; i < PerLeaver; i++)
                {
                    if (counter.LeaveDuringStop())
                    {
                        Interlocked.Increment(ref signals);
                        counter.SignalDrained();
                    }
                }
            })).ToArray();
            await Task.WhenAll(tasks).Within();

            Assert.Equal(1, signals);
            Assert.Equal(0, counter.Value);
            Assert.True(drained.Task.IsCompleted);
        }
    }

    [Fact]
    public async Task Value_EventsEnteringAndLeavingConcurrently_NeverBelowTheQueuedOnesNorNegative()
    {
        // The queue's rule: read under its lock, the in-flight value is never below the depth (an event leaves the queue
        // before it is counted out), and no reader ever sees a negative count while events come and go.
        const int Events = 200_000;
        var counter = new InFlightCounter();
        var gate = new Lock();
        var queued = new Queue<int>();
        var violations = 0;
        using var cts = new CancellationTokenSource(TestTimeout.Default);

        var publisher = Task.Run(() =>
        {
            for (var i = 0; i < Events && !cts.IsCancellationRequested; i++)
            {
                lock (gate)
                {
                    queued.Enqueue(i);
                    counter.Enter();
                }
            }
        });
        var worker = Task.Run(() =>
        {
            var taken = 0;
            while (taken < Events && !cts.IsCancellationRequested)
            {
                bool took;
                lock (gate)
                    took = queued.TryDequeue(out _);
                if (!took)
                {
                    Thread.Yield();
                    continue;
                }

                taken++;
                counter.LeaveDuringStop();
            }
        });
        var reader = Task.Run(() =>
        {
            while (!worker.IsCompleted && !cts.IsCancellationRequested)
            {
                long value;
                int depth;
                lock (gate)
                {
                    value = counter.Value;
                    depth = queued.Count;
                }

                if (value < depth || counter.Value < 0)
                    Interlocked.Increment(ref violations);
            }
        });
        await Task.WhenAll(publisher, worker, reader).Within();

        Assert.False(cts.IsCancellationRequested, "the run did not finish in time");
        Assert.Equal(0, violations);
        Assert.Equal(0, counter.Value);
    }
}
