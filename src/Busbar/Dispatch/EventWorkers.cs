namespace Busbar.Dispatch;

/// <summary>
/// The workers that drain the queue: <see cref="EventBusOptions.MaxConcurrentEvents"/> loops. Each
/// drains in batches (<c>TryDequeue</c> until empty) before awaiting again, so a busy bus does not
/// pay a thread-pool hop per event. With more than one worker, events sharing an ordering key are
/// handed to the worker already holding that key, which processes them in order.
/// </summary>
internal sealed class EventWorkers(InProcessEventBus bus, EventQueue queue, int count)
{
    private readonly Task[] _loops = new Task[count];
    private readonly Dictionary<string, Queue<EventContext>?>? _keys = count > 1 ? new(StringComparer.Ordinal) : null;

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
        while (true)
        {
            while (TryTake(out var context, out var acquired))
            {
                frame.OwnerThread = Environment.CurrentManagedThreadId;
                if (_keys is not null && context.OrderingKey is { } key)
                {
                    if (!acquired)
                        continue;
                    var next = context;
                    while (next is not null)
                    {
                        await ProcessSafelyAsync(next, frame).ConfigureAwait(false);
                        next = Release(key);
                    }

                    continue;
                }

                var pending = ProcessSafelyAsync(context, frame);
                if (!pending.IsCompletedSuccessfully)
                    await pending.ConfigureAwait(false);
            }

            if (!await queue.WaitToReadAsync().ConfigureAwait(false))
                return;
        }
    }

    private ValueTask ProcessSafelyAsync(EventContext context, AmbientFrame frame)
    {
        try
        {
            frame.OwnerThread = Environment.CurrentManagedThreadId;
            return bus.ProcessQueuedAsync(context, frame);
        }
        catch (Exception ex)
        {
            bus.OnProcessorFault(context, ex);
            bus.OnEventFinished(context, EventStatus.Failed);
            return default;
        }
    }

    /// <summary>
    /// Dequeues the next event. With ordering keys, dequeue and key acquisition happen under one
    /// lock, so two workers cannot acquire a key in an order different from the queue's.
    /// </summary>
    private bool TryTake(out EventContext context, out bool acquired)
    {
        acquired = false;
        if (_keys is null)
            return queue.TryDequeue(out context);
        lock (_keys)
        {
            if (!queue.TryDequeue(out context))
                return false;
            if (context.OrderingKey is { } key)
                acquired = TryAcquireLocked(key, context);
            return true;
        }
    }

    private bool TryAcquireLocked(string key, EventContext context)
    {
        {
            if (!_keys!.TryGetValue(key, out var waiting))
            {
                _keys[key] = null;
                return true;
            }

            if (waiting is null)
                _keys[key] = waiting = new Queue<EventContext>();
            waiting.Enqueue(context);
            return false;
        }
    }

    private EventContext? Release(string key)
    {
        lock (_keys!)
        {
            if (_keys[key] is { Count: > 0 } waiting)
                return waiting.Dequeue();
            _keys.Remove(key);
            return null;
        }
    }
}
