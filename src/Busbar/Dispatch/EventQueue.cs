using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Busbar.Dispatch;

/// <summary>
/// The bus's bounded queue: FIFO within a priority, higher priorities first. Every admitted event that has
/// not started is in it and counts against the capacity, including events waiting behind a busy ordering key.
/// One lock guards it; no user code ever runs under that lock (waiters are completed after it is released,
/// and their continuations run asynchronously).
/// </summary>
/// <remarks>
/// <para>
/// Ordering keys (tracked when more than one worker runs): the first queued event of a key is ready to take
/// like any other; the key's later events wait in the key's <em>line</em>, inside the queue and counted. A
/// worker that takes a keyed event holds the key until it calls <see cref="ReleaseKey"/>, which hands it the
/// next event of the line (so a key's events run one at a time, in admission order) or frees the key. Idle
/// workers never see events of a busy key, so they cannot pull them out of the queue.
/// </para>
/// <para>
/// Every event leaves the queue under the lock, and the one that removes it claims it
/// (<see cref="EventContext.Claim"/>): a worker taking it, a handler awaiting it (queue jump), an eviction
/// (<c>DropOldest</c>) or the stop. So the count is exactly the events that are queued and not started.
/// </para>
/// </remarks>
[DebuggerDisplay("Count = {Count}, Ready = {_ready}, Capacity = {Capacity}, Closed = {_closed}")]
internal sealed class EventQueue
{
    private readonly Lock _lock = new();
    private readonly int _capacity;
    private readonly Level _normal = new(0);
    private SortedDictionary<int, Level>? _prioritized;
    private readonly Dictionary<string, KeyLine>? _keys;
    private readonly InFlightCounter _inFlight;
    private int _count;
    private int _ready;
    private int _nextSequence;
    private bool _closed;
    private ReadWaiter? _readers;
    private RoomWaiter? _firstWaiter;
    private RoomWaiter? _lastWaiter;

    /// <param name="capacity">How many events may wait.</param>
    /// <param name="trackKeys">Serialize events that share an ordering key (needed with more than one worker).</param>
    /// <param name="inFlight">Counts every event the queue admits; whoever completes the event counts it out.</param>
    public EventQueue(int capacity, bool trackKeys, InFlightCounter inFlight)
    {
        _capacity = capacity;
        _inFlight = inFlight;
        _keys = trackKeys ? new Dictionary<string, KeyLine>(StringComparer.Ordinal) : null;
    }

    /// <summary>Events queued and not started, wherever they wait.</summary>
    public int Count => Volatile.Read(ref _count);

    public int Capacity => _capacity;

    /// <summary>Workers waiting in <see cref="WaitToReadAsync"/> now (for tests: a listed worker waits until an event is ready or the queue closes).</summary>
    internal int WaitingReaders
    {
        get
        {
            lock (_lock)
            {
                var count = 0;
                for (var waiter = _readers; waiter is not null; waiter = waiter.Next)
                    count++;
                return count;
            }
        }
    }

    /// <summary>
    /// The queue's count and the in-flight count read together: an event enters flight when it is queued, under
    /// the lock, and leaves flight only after it left the queue, so under the lock the depth never exceeds it.
    /// </summary>
    public (int Depth, long InFlight) ReadCounts()
    {
        lock (_lock)
        {
            return (_count, _inFlight.Value);
        }
    }

    /// <summary>Admits when below <paramref name="limit"/>; under <paramref name="dropOldest"/> evicts the oldest lowest-priority event to make room.</summary>
    /// <remarks>An evicted event is claimed: the caller completes it.</remarks>
    public EnqueueResult TryEnqueue(EventContext context, int limit, bool dropOldest, out EventContext? evicted)
    {
        evicted = null;
        ReadWaiter? wake;
        lock (_lock)
        {
            if (_closed)
                return EnqueueResult.Closed;
            if (_count >= limit)
            {
                if (!dropOldest || !TryEvictLocked(out evicted))
                    return EnqueueResult.Full;
            }

            AddLocked(context);
            wake = TakeReadersLocked();
        }

        ReadWaiter.WakeAll(wake, ready: true);
        return EnqueueResult.Admitted;
    }

    /// <summary>
    /// Admits <paramref name="items"/> from <paramref name="start"/> in order under one lock, as many
    /// as fit below <paramref name="limit"/>; returns how many. The caller decides the rest one by one.
    /// </summary>
    public int TryEnqueueRange(List<EventContext> items, int start, int limit)
    {
        ReadWaiter? wake = null;
        var admitted = 0;
        lock (_lock)
        {
            if (_closed)
                return 0;
            for (var i = start; i < items.Count && _count < limit; i++, admitted++)
                AddLocked(items[i]);
            if (admitted > 0)
                wake = TakeReadersLocked();
        }

        ReadWaiter.WakeAll(wake, ready: true);
        return admitted;
    }

    /// <summary>
    /// Admits when there is room (Wait mode); otherwise lists <paramref name="waiter"/>, to be woken (<see cref="RoomWaiter.Wake"/>)
    /// when room may have freed or the queue closes, and returns <see langword="false"/>. Throws <see cref="BusStoppedException"/>
    /// once the queue is closed.
    /// </summary>
    /// <remarks>
    /// Every listed waiter is woken when a slot frees, and each tries again (the first to come takes the slot, the others list
    /// themselves again), as a shared completion source would wake them; a waiter is an object the publisher reuses, so a
    /// publisher that a full queue makes wait once per freed slot allocates nothing per wait.
    /// </remarks>
    public bool TryEnqueueOrWait(EventContext context, RoomWaiter waiter)
    {
        ReadWaiter? wake;
        lock (_lock)
        {
            if (_closed)
                throw new BusStoppedException();
            if (_count >= _capacity)
            {
                Debug.Assert(!waiter.Listed, "A waiter waits for one publish at a time.");
                waiter.Listed = true;
                waiter.Previous = _lastWaiter;
                waiter.Next = null;
                if (_lastWaiter is null)
                    _firstWaiter = waiter;
                else
                    _lastWaiter.Next = waiter;
                _lastWaiter = waiter;
                return false;
            }

            AddLocked(context);
            wake = TakeReadersLocked();
        }

        ReadWaiter.WakeAll(wake, ready: true);
        return true;
    }

    /// <summary>Takes a listed waiter out (its publish was cancelled); <see langword="false"/> when a wake already took it.</summary>
    public bool TryUnlist(RoomWaiter waiter)
    {
        lock (_lock)
        {
            if (!waiter.Listed)
                return false;
            waiter.Listed = false;
            if (waiter.Previous is null)
                _firstWaiter = waiter.Next;
            else
                waiter.Previous.Next = waiter.Next;
            if (waiter.Next is null)
                _lastWaiter = waiter.Previous;
            else
                waiter.Next.Previous = waiter.Previous;
            waiter.Previous = null;
            waiter.Next = null;
            return true;
        }
    }

    /// <summary>Takes and claims the next ready event. A keyed event's key is held until <see cref="ReleaseKey"/>.</summary>
    public bool TryDequeue(out EventContext context)
    {
        RoomWaiter? space;
        lock (_lock)
        {
            if (!TryTakeLocked(out context!))
                return false;
            space = TakeWritersLocked();
        }

        RoomWaiter.WakeAll(space);
        return true;
    }

    /// <summary>
    /// The worker holding <paramref name="key"/> finished its event: returns the key's next event, taken and
    /// claimed (the key stays held), or frees the key and returns <see langword="null"/>.
    /// </summary>
    public EventContext? ReleaseKey(string key)
    {
        if (_keys is null)
            return null;
        EventContext? next;
        RoomWaiter? space = null;
        lock (_lock)
        {
            if (!_keys.TryGetValue(key, out var line))
                return null;
            Debug.Assert(line.Held, "Only the holder releases a key.");
            next = line.Waiting.First;
            if (next is null)
            {
                _keys.Remove(key);
            }
            else
            {
                line.Waiting.Remove(next);
                LeaveLocked(next);
                space = TakeWritersLocked();
            }
        }

        RoomWaiter.WakeAll(space);
        return next;
    }

    /// <summary>Takes <paramref name="context"/> out of the queue and claims it, if it is still queued (a queue jump).</summary>
    public bool TryRemove(EventContext context)
    {
        ReadWaiter? readers;
        RoomWaiter? space;
        lock (_lock)
        {
            // Only the queue moves an event out of the queued stage, under this lock: queued means in a list.
            if (context.Stage != EventContext.StageQueued)
                return false;
            readers = RemoveLocked(context) ? TakeReadersLocked() : null;
            space = TakeWritersLocked();
        }

        ReadWaiter.WakeAll(readers, ready: true);
        RoomWaiter.WakeAll(space);
        return true;
    }

    /// <summary>Completes with true when an event may be ready to take, false once closed with nothing ready.</summary>
    /// <remarks>
    /// Events waiting behind a busy key are not ready: the worker holding the key takes them through
    /// <see cref="ReleaseKey"/>, so the other workers may end once the queue is closed. Nothing becomes ready
    /// after that: a closed queue admits nothing, and a key's next event becomes ready only when a ready event of
    /// its key is removed, so once none is ready none ever will be.
    /// </remarks>
    public ValueTask<bool> WaitToReadAsync(ReadWaiter waiter)
    {
        lock (_lock)
        {
            if (_ready > 0)
                return new ValueTask<bool>(true);
            if (_closed)
                return new ValueTask<bool>(false);
            Debug.Assert(!waiter.Listed, "A worker waits once at a time.");
            waiter.Listed = true;
            waiter.Next = _readers;
            _readers = waiter;
            return waiter.Pending;
        }
    }

    public void Close()
    {
        ReadWaiter? readers;
        RoomWaiter? writers;
        bool ready;
        lock (_lock)
        {
            _closed = true;
            readers = TakeReadersLocked();
            writers = TakeWritersLocked();
            ready = _ready > 0;
        }

        ReadWaiter.WakeAll(readers, ready);
        RoomWaiter.WakeAll(writers);
    }

    /// <summary>Removes and claims every queued event, ready or behind a busy key (used when the drain timeout expires).</summary>
    public List<EventContext> TakeAll()
    {
        var all = new List<EventContext>();
        lock (_lock)
        {
            TakeAllLocked(_normal.Ready, all);
            if (_prioritized is not null)
            {
                foreach (var (_, level) in _prioritized)
                    TakeAllLocked(level.Ready, all);
            }

            if (_keys is not null)
            {
                foreach (var (_, line) in _keys)
                    TakeAllLocked(line.Waiting, all);

                // Held keys stay until their holders release them (and find their lines empty).
                List<string>? free = null;
                foreach (var (key, line) in _keys)
                {
                    if (!line.Held)
                        (free ??= []).Add(key);
                }

                foreach (var key in free ?? [])
                    _keys.Remove(key);
            }

            AssertInvariantsLocked();
        }

        all.Sort(static (a, b) => IsOlder(a, b) ? -1 : IsOlder(b, a) ? 1 : 0);
        return all;
    }

    private void TakeAllLocked(EventList list, List<EventContext> into)
    {
        if (list.Key is null)
            _ready -= list.Count;
        while (list.First is { } context)
        {
            list.Remove(context);
            LeaveLocked(context);
            into.Add(context);
        }
    }

    /// <summary>True when <paramref name="context"/> was admitted before <paramref name="other"/> (both queued).</summary>
    /// <remarks>The difference of sequence numbers, so the order holds across the wrap of the counter (a queue holds far fewer than 2³¹ events).</remarks>
    internal static bool IsOlder(EventContext context, EventContext other) => unchecked(context.QueueSequence - other.QueueSequence) < 0;

    private void AddLocked(EventContext context)
    {
        context.MarkQueued();
        context.QueueSequence = unchecked(_nextSequence++);
        _inFlight.Enter();
        var level = LevelFor(context.Priority);
        level.Count++;
        if (_keys is not null && context.OrderingKey is { } key)
        {
            if (_keys.TryGetValue(key, out var line))
            {
                line.Waiting.AddLast(context);
                _count++;
                return;
            }

            _keys[key] = new KeyLine(key);
        }

        level.Ready.AddLast(context);
        _ready++;
        _count++;
    }

    private bool TryTakeLocked(out EventContext context)
    {
        if (_ready == 0)
        {
            context = null!;
            return false;
        }

        // Without priorities every ready event is in the normal level: no call, no search.
        var level = _prioritized is null ? _normal : HighestReadyLocked();
        context = level.Ready.First!;
        level.Ready.Remove(context);
        _ready--;
        LeaveLocked(context);
        if (_keys is not null && context.OrderingKey is { } key)
            _keys[key].Held = true;
        AssertInvariantsLocked();
        return true;
    }

    private Level HighestReadyLocked()
    {
        if (_prioritized is not null)
        {
            foreach (var (priority, level) in _prioritized)
            {
                if (priority < 0 && _normal.Ready.Count > 0)
                    return _normal;
                if (level.Ready.Count > 0)
                    return level;
            }
        }

        Debug.Assert(_normal.Ready.Count > 0, "The ready count says an event is ready.");
        return _normal;
    }

    /// <summary>The oldest event of the lowest priority, wherever it waits.</summary>
    private bool TryEvictLocked(out EventContext? evicted)
    {
        Level? lowest = null;
        if (_prioritized is not null)
        {
            // Descending order: the last non-empty level below 0 is the lowest.
            foreach (var (priority, level) in _prioritized)
            {
                if (priority < 0 && level.Count > 0)
                    lowest = level;
            }
        }

        if (lowest is null && _normal.Count > 0)
            lowest = _normal;
        if (lowest is null && _prioritized is not null)
        {
            foreach (var (_, level) in _prioritized)
            {
                if (level.Count > 0)
                    lowest = level;
            }
        }

        evicted = lowest is null ? null : OldestLocked(lowest);
        if (evicted is null)
            return false;
        RemoveLocked(evicted);
        return true;
    }

    /// <summary>The oldest queued event of <paramref name="level"/>: the head of its ready list, or an older one behind a busy key.</summary>
    /// <remarks>
    /// A ready list is in admission order (events join at the end, or by age when a key's next event becomes ready), and so
    /// is every key's line. Events wait behind keys only with ordering keys and more than one worker; then the lines are
    /// searched for the first event of the level's priority, a cost paid only by an eviction while some wait.
    /// </remarks>
    private EventContext? OldestLocked(Level level)
    {
        var oldest = level.Ready.First;
        if (_keys is null || _count == _ready)
            return oldest;
        foreach (var (_, line) in _keys)
        {
            for (var context = line.Waiting.First; context is not null; context = context.QueueLinks.Next)
            {
                if (context.Priority != level.Priority)
                    continue;
                if (oldest is null || IsOlder(context, oldest))
                    oldest = context;
                break;
            }
        }

        return oldest;
    }

    /// <summary>Takes a queued event out from wherever it waits and claims it. True when another event became ready.</summary>
    private bool RemoveLocked(EventContext context)
    {
        var list = TakeListOfLocked(context);
        list.Remove(context);
        LeaveLocked(context);
        if (list.Key is not null)
            return false; // it waited in a key's line

        _ready--;
        if (_keys is null || context.OrderingKey is not { } key)
            return false;

        // It was its key's first event, ready to take: the next in the key's line takes its turn.
        var line = _keys[key];
        Debug.Assert(!line.Held, "A ready keyed event's key is free.");
        if (line.Waiting.First is not { } next)
        {
            _keys.Remove(key);
            return false;
        }

        line.Waiting.Remove(next);
        LevelFor(next.Priority).Ready.InsertByAge(next);
        _ready++;
        return true;
    }

    /// <summary>The list a queued event is in for taking: its key's line, or its priority's ready list.</summary>
    private EventList TakeListOfLocked(EventContext context) =>
        context.InKeyLine ? _keys![context.OrderingKey!].Waiting : LevelFor(context.Priority).Ready;

    /// <summary>Leaves its level's and the queue's count (it has left its list), and is claimed by whoever took it.</summary>
    private void LeaveLocked(EventContext context)
    {
        LevelFor(context.Priority).Count--;
        _count--;
        context.Claim();
    }

    /// <summary>Takes every waiting worker out, as a chain for <see cref="ReadWaiter.WakeAll"/> to wake once the lock is released.</summary>
    private ReadWaiter? TakeReadersLocked()
    {
        var first = _readers;
        for (var waiter = first; waiter is not null; waiter = waiter.Next)
            waiter.Listed = false;
        _readers = null;
        return first;
    }

    /// <summary>Takes every listed waiter out, as a chain for <see cref="RoomWaiter.WakeAll"/> to wake once the lock is released.</summary>
    private RoomWaiter? TakeWritersLocked()
    {
        var first = _firstWaiter;
        if (first is null)
            return null;
        for (var waiter = first; waiter is not null; waiter = waiter.Next)
            waiter.Listed = false;
        _firstWaiter = null;
        _lastWaiter = null;
        return first;
    }

    private Level LevelFor(int priority)
    {
        if (priority == 0)
            return _normal;
        _prioritized ??= new SortedDictionary<int, Level>(Comparer<int>.Create(static (a, b) => b.CompareTo(a)));
        if (!_prioritized.TryGetValue(priority, out var level))
            _prioritized[priority] = level = new Level(priority);
        return level;
    }

    [Conditional("DEBUG")]
    private void AssertInvariantsLocked()
    {
        Debug.Assert(_count >= 0 && _ready >= 0 && _ready <= _count, $"count {_count}, ready {_ready}");
        var queued = _normal.Count;
        var ready = _normal.Ready.Count;
        if (_prioritized is not null)
        {
            foreach (var (_, level) in _prioritized)
            {
                queued += level.Count;
                ready += level.Ready.Count;
            }
        }

        Debug.Assert(queued == _count && ready == _ready, $"count {_count} vs {queued} in levels; ready {_ready} vs {ready}");
    }

    /// <summary>The events of one priority: how many are queued (ready or behind a busy key), and those ready to take.</summary>
    [DebuggerDisplay("Priority {Priority}: {Count} queued, {Ready.Count} ready")]
    private sealed class Level(int priority)
    {
        public int Priority { get; } = priority;

        /// <summary>Its queued events, ready or waiting in a key's line.</summary>
        public int Count;

        public EventList Ready { get; } = new();
    }

    /// <summary>An ordering key with queued or running events: its first event is ready or running, the rest wait here.</summary>
    [DebuggerDisplay("Key {Waiting.Key}: held {Held}, {Waiting.Count} waiting")]
    private sealed class KeyLine(string key)
    {
        /// <summary>A worker runs an event of this key.</summary>
        public bool Held { get; set; }

        public EventList Waiting { get; } = new(key);
    }
}

internal enum EnqueueResult
{
    Admitted,
    Full,
    Closed,
}
