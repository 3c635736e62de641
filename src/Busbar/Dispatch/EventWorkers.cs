using Busbar.Engine;

namespace Busbar.Dispatch;

/// <summary>
/// The workers that drain the queue: <see cref="EventBusOptions.MaxConcurrentEvents"/> loops. Each
/// drains in batches (<c>TryDequeue</c> until empty) before awaiting again, so a busy bus does not
/// pay a thread-pool hop per event. A worker that takes an event with an ordering key holds the key
/// and runs the key's next queued events itself, one at a time (<see cref="EventQueue.ReleaseKey"/>);
/// those events stay in the queue, counted, until it takes them. Each worker has a <see cref="HandlerClock"/>, which times its
/// handlers with one clock read each while it takes events back to back; it is dropped after every await and whenever the queue
/// is found empty, so no handler's duration includes time the worker spent waiting.
/// </summary>
/// <param name="queue">The queue to drain.</param>
/// <param name="count">How many loops.</param>
/// <param name="process">Runs one claimed event (the queue source) with the worker's clock; the worker awaits it before taking the key's next event.</param>
/// <param name="fault">Ends an event whose <paramref name="process"/> call threw (a bug, never a handler's exception).</param>
internal sealed class EventWorkers(EventQueue queue, int count, Func<EventContext, HandlerClock, ValueTask> process, Action<EventContext, Exception> fault)
{
    private readonly Task[] _loops = new Task[count];

    public void Start()
    {
        // Workers must not inherit the creator's ambient context (an event handler, an Activity).
        using (ExecutionContext.SuppressFlow())
        {
            for (var i = 0; i < _loops.Length; i++)
                _loops[i] = Task.Run(RunAsync);
        }
    }

    public Task WaitAsync() => Task.WhenAll(_loops);

    private async Task RunAsync()
    {
        var frame = Ambient.Install(null, null);
        var waiter = new ReadWaiter();
        var clock = new HandlerClock();
        while (true)
        {
            // The frame belongs to the thread the loop runs on; that changes only across an await, so it is set once per
            // resumption rather than once per event.
            frame.OwnerThread = Environment.CurrentManagedThreadId;
            while (queue.TryDequeue(out var context))
            {
                var next = context;
                do
                {
                    var pending = ProcessSafelyAsync(next, clock);
                    if (!pending.IsCompletedSuccessfully)
                    {
                        await pending.ConfigureAwait(false);
                        frame.OwnerThread = Environment.CurrentManagedThreadId;
                        clock.Reset();
                    }

                    next = next.OrderingKey is { } key ? queue.ReleaseKey(key) : null;
                }
                while (next is not null);
            }

            // Nothing ready: the worker may wait now, and the next event's first handler must not count that wait.
            clock.Reset();
            if (!await queue.WaitToReadAsync(waiter).ConfigureAwait(false))
                return;
        }
    }

    private ValueTask ProcessSafelyAsync(EventContext context, HandlerClock clock)
    {
        try
        {
            return process(context, clock);
        }
        catch (Exception ex)
        {
            clock.Reset();
            fault(context, ex);
            return default;
        }
    }
}
