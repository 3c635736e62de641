namespace Busbar.Dispatch;

/// <summary>
/// The bus's bounded queue: FIFO within a priority, higher priorities first. One lock guards it;
/// no user code ever runs under that lock (waiters are completed after it is released, and their
/// continuations run asynchronously).
/// </summary>
internal sealed class EventQueue
{
    private readonly object _lock = new();
    private readonly int _capacity;
    private readonly Queue<EventContext> _normal = new();
    private SortedDictionary<int, Queue<EventContext>>? _prioritized;
    private int _count;
    private bool _closed;
    private TaskCompletionSource<bool>? _itemsAvailable;
    private TaskCompletionSource<bool>? _spaceAvailable;

    public EventQueue(int capacity) => _capacity = capacity;

    public int Count => Volatile.Read(ref _count);

    public int Capacity => _capacity;

    /// <summary>Admits when below <paramref name="limit"/>; under <paramref name="dropOldest"/> evicts the oldest lowest-priority event to make room.</summary>
    public EnqueueResult TryEnqueue(EventContext context, int limit, bool dropOldest, out EventContext? evicted)
    {
        evicted = null;
        TaskCompletionSource<bool>? wake;
        lock (_lock)
        {
            if (_closed)
                return EnqueueResult.Closed;
            if (_count >= limit)
            {
                if (!dropOldest || !TryRemoveOldestLocked(out evicted))
                    return EnqueueResult.Full;
            }

            AddLocked(context);
            wake = _itemsAvailable;
            _itemsAvailable = null;
        }

        wake?.TrySetResult(true);
        return EnqueueResult.Admitted;
    }

    /// <summary>
    /// Admits <paramref name="items"/> from <paramref name="start"/> in order under one lock, as many
    /// as fit below <paramref name="limit"/>; returns how many. The caller decides the rest one by one.
    /// </summary>
    public int TryEnqueueRange(List<EventContext> items, int start, int limit)
    {
        TaskCompletionSource<bool>? wake;
        var admitted = 0;
        lock (_lock)
        {
            if (_closed)
                return 0;
            for (var i = start; i < items.Count && _count < limit; i++, admitted++)
                AddLocked(items[i]);
            wake = admitted > 0 ? _itemsAvailable : null;
            if (wake is not null)
                _itemsAvailable = null;
        }

        wake?.TrySetResult(true);
        return admitted;
    }

    /// <summary>Waits for room (Wait mode). Throws <see cref="BusStoppedException"/> if the queue closes meanwhile.</summary>
    public async ValueTask EnqueueAsync(EventContext context, CancellationToken cancellationToken)
    {
        while (true)
        {
            TaskCompletionSource<bool> space;
            TaskCompletionSource<bool>? wake;
            lock (_lock)
            {
                if (_closed)
                    throw new BusStoppedException();
                if (_count < _capacity)
                {
                    AddLocked(context);
                    wake = _itemsAvailable;
                    _itemsAvailable = null;
                    space = null!;
                }
                else
                {
                    wake = null;
                    space = _spaceAvailable ??= new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }

            if (space is null)
            {
                wake?.TrySetResult(true);
                return;
            }

            await space.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public bool TryDequeue(out EventContext context)
    {
        TaskCompletionSource<bool>? wake;
        lock (_lock)
        {
            if (!TryTakeLocked(out context!))
                return false;
            wake = _spaceAvailable;
            _spaceAvailable = null;
        }

        wake?.TrySetResult(true);
        return true;
    }

    /// <summary>Completes with true when an item may be available, false once closed and empty.</summary>
    public ValueTask<bool> WaitToReadAsync()
    {
        TaskCompletionSource<bool> tcs;
        lock (_lock)
        {
            if (_count > 0)
                return new ValueTask<bool>(true);
            if (_closed)
                return new ValueTask<bool>(false);
            tcs = _itemsAvailable ??= new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        return new ValueTask<bool>(tcs.Task);
    }

    /// <summary>Stops intake; readers drain what is left, then see the end.</summary>
    public void Close()
    {
        TaskCompletionSource<bool>? readers, writers;
        lock (_lock)
        {
            _closed = true;
            readers = _itemsAvailable;
            writers = _spaceAvailable;
            _itemsAvailable = null;
            _spaceAvailable = null;
        }

        readers?.TrySetResult(_count > 0);
        writers?.TrySetResult(false);
    }

    /// <summary>Removes every queued event (used when the drain timeout expires).</summary>
    public List<EventContext> TakeAll()
    {
        var all = new List<EventContext>();
        lock (_lock)
        {
            while (TryTakeLocked(out var context))
                all.Add(context);
        }

        return all;
    }

    private void AddLocked(EventContext context)
    {
        context.MarkQueued();
        if (context.Priority == 0 && _prioritized is null)
        {
            _normal.Enqueue(context);
        }
        else
        {
            _prioritized ??= new SortedDictionary<int, Queue<EventContext>>(Comparer<int>.Create(static (a, b) => b.CompareTo(a)));
            if (context.Priority == 0)
            {
                _normal.Enqueue(context);
            }
            else
            {
                if (!_prioritized.TryGetValue(context.Priority, out var level))
                    _prioritized[context.Priority] = level = new Queue<EventContext>();
                level.Enqueue(context);
            }
        }

        _count++;
    }

    private bool TryTakeLocked(out EventContext context)
    {
        if (_count == 0)
        {
            context = null!;
            return false;
        }

        if (_prioritized is not null)
        {
            foreach (var (priority, level) in _prioritized)
            {
                if (priority < 0 && _normal.Count > 0)
                    break;
                if (level.Count > 0)
                {
                    context = level.Dequeue();
                    _count--;
                    return true;
                }
            }
        }

        if (_normal.TryDequeue(out context!))
        {
            _count--;
            return true;
        }

        foreach (var (_, level) in _prioritized!)
        {
            if (level.Count > 0)
            {
                context = level.Dequeue();
                _count--;
                return true;
            }
        }

        return false;
    }

    private bool TryRemoveOldestLocked(out EventContext? evicted)
    {
        evicted = null;
        if (_prioritized is not null)
        {
            // Lowest priority first: iterate descending order and keep the last non-empty level below 0.
            Queue<EventContext>? lowest = null;
            foreach (var (priority, level) in _prioritized)
            {
                if (priority < 0 && level.Count > 0)
                    lowest = level;
            }

            if (lowest is not null)
            {
                evicted = lowest.Dequeue();
                _count--;
                return true;
            }
        }

        if (_normal.TryDequeue(out evicted))
        {
            _count--;
            return true;
        }

        if (_prioritized is null)
            return false;
        Queue<EventContext>? last = null;
        foreach (var (_, level) in _prioritized)
        {
            if (level.Count > 0)
                last = level;
        }

        if (last is null)
            return false;
        evicted = last.Dequeue();
        _count--;
        return true;
    }
}

internal enum EnqueueResult
{
    Admitted,
    Full,
    Closed,
}
