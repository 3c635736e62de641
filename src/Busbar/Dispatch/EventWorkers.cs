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
            while (queue.TryDequeue(out var context))
            {
                frame.OwnerThread = Environment.CurrentManagedThreadId;
                if (_keys is not null && context.OrderingKey is { } key)
                {
                    if (!TryAcquire(key, context))
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

    private bool TryAcquire(string key, EventContext context)
    {
        lock (_keys!)
        {
            if (!_keys.TryGetValue(key, out var waiting))
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
