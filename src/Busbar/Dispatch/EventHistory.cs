namespace Busbar.Dispatch;

/// <summary>
/// A ring buffer of recent events plus the waiters of <c>WaitForAsync</c>. Adding an event costs
/// O(1) whatever its size (a reference is stored) plus one check per live waiter. No user
/// predicate runs under the lock: a waiter registers first and then looks back, while a publish
/// appends first and then checks the registered waiters, so whichever order they race in, one of
/// the two sees the other and an event published just before the wait is not missed.
/// </summary>
internal sealed class EventHistory(int capacity)
{
    private readonly Lock _lock = new();
    private readonly EventContext?[] _ring = new EventContext?[capacity];
    private Waiter[] _waiters = [];
    private int _next;
    private int _count;

    public void Add(EventContext context)
    {
        if (_ring.Length > 0)
        {
            lock (_lock)
            {
                AppendLocked(context);
            }
        }
        else
        {
            Interlocked.MemoryBarrier();
        }

        foreach (var waiter in Volatile.Read(ref _waiters))
            waiter.Offer(context);
    }

    /// <summary>Adds a run of admitted events with one lock (batch publish).</summary>
    public void AddRange(List<EventContext> contexts, int start, int count)
    {
        if (_ring.Length > 0)
        {
            lock (_lock)
            {
                for (var i = start; i < start + count; i++)
                    AppendLocked(contexts[i]);
            }
        }
        else
        {
            Interlocked.MemoryBarrier();
        }

        foreach (var waiter in Volatile.Read(ref _waiters))
        {
            for (var i = start; i < start + count; i++)
                waiter.Offer(contexts[i]);
        }
    }

    private void AppendLocked(EventContext context)
    {
        _ring[_next] = context;
        _next = (_next + 1) % _ring.Length;
        if (_count < _ring.Length)
            _count++;
    }

    public IReadOnlyList<EventHandle> Find(Func<EventContext, bool> predicate)
    {
        var found = new List<EventHandle>();
        foreach (var context in Snapshot())
        {
            if (predicate(context))
                found.Add(new EventHandle(context));
        }

        return found;
    }

    private List<EventContext> Snapshot()
    {
        lock (_lock)
        {
            var list = new List<EventContext>(_count);
            if (_count == 0)
                return list;
            var start = (_next - _count + _ring.Length) % _ring.Length;
            for (var i = 0; i < _count; i++)
                list.Add(_ring[(start + i) % _ring.Length]!);
            return list;
        }
    }

    public async ValueTask<EventHandle?> WaitForAsync(Func<EventContext, bool> predicate, TimeSpan timeout, WaitOptions? options, TimeProvider time, CancellationToken cancellationToken)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout must not be negative.");
        var childOf = options?.ChildOf;
        var since = options?.LookBack is { } window ? time.GetUtcNow() - window : DateTimeOffset.MinValue;
        var waiter = new Waiter(c => (childOf is null || IsDescendant(c, childOf.Value)) && predicate(c));
        Register(waiter);
        try
        {
            if (options?.LookBack != TimeSpan.Zero)
            {
                var recent = Snapshot();
                for (var i = recent.Count - 1; i >= 0 && !waiter.Completion.Task.IsCompleted; i--)
                {
                    if (recent[i].CreatedAt >= since)
                        waiter.Offer(recent[i]);
                }
            }

            return await waiter.Completion.Task.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
        finally
        {
            Unregister(waiter);
        }
    }

    private void Register(Waiter waiter)
    {
        lock (_lock)
        {
            _waiters = [.. _waiters, waiter];
        }
    }

    private void Unregister(Waiter waiter)
    {
        lock (_lock)
        {
            var index = Array.IndexOf(_waiters, waiter);
            if (index < 0)
                return;
            var copy = new Waiter[_waiters.Length - 1];
            Array.Copy(_waiters, 0, copy, 0, index);
            Array.Copy(_waiters, index + 1, copy, index, copy.Length - index);
            _waiters = copy;
        }
    }

    /// <summary>True when <paramref name="context"/> was caused by <paramref name="ancestor"/>, directly or through events still in history.</summary>
    private bool IsDescendant(EventContext context, Guid ancestor)
    {
        var cause = context.CausationId;
        if (cause == ancestor)
            return true;
        var recent = Snapshot();
        for (var depth = 0; cause is { } id && depth < 64; depth++)
        {
            if (id == ancestor)
                return true;
            cause = null;
            foreach (var c in recent)
            {
                if (c.EventId == id)
                {
                    cause = c.CausationId;
                    break;
                }
            }
        }

        return false;
    }

    private sealed class Waiter(Func<EventContext, bool> predicate)
    {
        public TaskCompletionSource<EventHandle?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Offer(EventContext context)
        {
            if (Completion.Task.IsCompleted)
                return;
            try
            {
                if (predicate(context))
                    Completion.TrySetResult(new EventHandle(context));
            }
            catch (Exception ex)
            {
                Completion.TrySetException(ex);
            }
        }
    }
}
