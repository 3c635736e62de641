using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Busbar.Dispatch;

/// <summary>
/// The bus's bounded queue: FIFO within a priority, higher priorities first. Every admitted event that has
/// not started is in it and counts against the capacity, including events waiting behind a busy ordering key.
/// One lock guards it (a spin lock with one worker, see <see cref="EnterLock"/>); no user code ever runs under that lock (waiters are completed after it is released,
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
/// <para>
/// Admission of a normal-priority event with room takes no lock (issue 16): the publisher reserves a place with a
/// compare-exchange and pushes the event on the <em>intake</em>, a lock-free stack linked through the events themselves.
/// Operations under the lock (a worker's take once no normal-priority event is ready in the lists, a queue jump, a wait, an
/// eviction, a batch, the stop) first move the intake into the lists in push order, so admission order is push order
/// throughout. The count is two running totals on lines of their own (see <see cref="Intake"/>), so a publish and a take
/// write different cache lines, and the lock is the workers' alone while nothing else needs it. An event on its way in is
/// counted (in the count and in flight) but in no list yet: a stop that closes the queue meanwhile is seen by the publisher
/// after its push, which then takes its event back under the lock unless a worker already took it.
/// </para>
/// </remarks>
[DebuggerDisplay("Count = {Count}, Ready = {_ready}, Capacity = {Capacity}, Closed = {_intake.Closed}")]
internal sealed class EventQueue
{
    private readonly int _capacity;
    private readonly Level _normal;
    private SortedDictionary<int, Level>? _prioritized;
    private readonly Dictionary<string, KeyLine>? _keys;

    // The lock when several workers contend for it; null: the spin lock in the intake's takers' line (see EnterLock).
    private readonly Lock? _workersLock;
    private readonly InFlightCounter _inFlight;
    private Intake _intake;
    private int _ready;
    private int _nextSequence;
    private ReadWaiter? _readers;
    private RoomWaiter? _firstWaiter;
    private RoomWaiter? _lastWaiter;

    /// <param name="capacity">How many events may wait.</param>
    /// <param name="workers">How many workers take from it. With more than one, events that share an ordering key are serialized
    /// (tracked in key lines), and the lock is a <see cref="Lock"/> rather than a spin lock (see <see cref="EnterLock"/>).</param>
    /// <param name="inFlight">Counts every event the queue admits; whoever completes the event counts it out.</param>
    public EventQueue(int capacity, int workers, InFlightCounter inFlight)
    {
        _capacity = capacity;
        _inFlight = inFlight;
        // Allocated first, next to the queue itself, as it always was: where objects land decides which cache lines the workers
        // share, and allocated after the key dictionary instead it ran several workers measurably slower (bench/results/README.md,
        // "Queued 1 → 1, session 11").
        _workersLock = workers > 1 ? new Lock() : null;
        _normal = new Level(0);
        _keys = workers > 1 ? new Dictionary<string, KeyLine>(StringComparer.Ordinal) : null;
    }

    /// <summary>Events queued and not started, wherever they wait.</summary>
    public int Count => _intake.Queued;

    public int Capacity => _capacity;

    /// <summary>Workers waiting in <see cref="WaitToReadAsync"/> now (for tests: a listed worker waits until an event is ready or the queue closes).</summary>
    internal int WaitingReaders
    {
        get
        {
            using (EnterLock())
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
        using (EnterLock())
        {
            return (_intake.Queued, _inFlight.Value);
        }
    }

    /// <summary>
    /// <see cref="TryEnqueue(EventContext, int, bool, out EventContext?, out List{EventContext}?)"/> for callers that never evict
    /// (recovery) or race no other publisher (tests of the queue).
    /// </summary>
    public EnqueueResult TryEnqueue(EventContext context, int limit, bool dropOldest, out EventContext? evicted)
    {
        var result = TryEnqueue(context, limit, dropOldest, out evicted, out var more);
        Debug.Assert(more is null, "Only racing publishers make a second eviction.");
        return result;
    }

    /// <summary>Admits when below <paramref name="limit"/>; under <paramref name="dropOldest"/> evicts the oldest lowest-priority event to make room.</summary>
    /// <remarks>
    /// An evicted event is claimed: the caller completes it, whatever the result. Each place an eviction makes may be taken at once
    /// by a publisher that takes no lock; then the next oldest goes too (<paramref name="alsoEvicted"/>), one per admission that
    /// took a place, and in the rare case that nothing is left to evict the result is <see cref="EnqueueResult.Full"/>.
    /// </remarks>
    /// <param name="context">The event.</param>
    /// <param name="limit">The count it must stay below: the capacity, or a handler's overflow allowance.</param>
    /// <param name="dropOldest">Make room by evicting when full (<see cref="BusFullMode.DropOldest"/>).</param>
    /// <param name="evicted">The event evicted to make room, or null.</param>
    /// <param name="alsoEvicted">Events evicted besides <paramref name="evicted"/> (claimed, for the caller to complete), or null.</param>
    public EnqueueResult TryEnqueue(EventContext context, int limit, bool dropOldest, out EventContext? evicted, out List<EventContext>? alsoEvicted)
    {
        evicted = null;
        alsoEvicted = null;
        // Only normal-priority events take the intake: a worker takes from the lists before it takes the intake in, which is
        // admission order for them but would let a higher-priority event on the intake wait behind ready ones.
        if (context.Priority == 0 && TryReservePlace(limit))
            return Push(context);

        ReadWaiter? wake;
        using (EnterLock())
        {
            if (_intake.Closed)
                return EnqueueResult.Closed;
            TakeInLocked();
            while (!TryAddLocked(context, limit))
            {
                if (!dropOldest)
                    return EnqueueResult.Full;
                if (!TryEvictLocked(out var oldest))
                {
                    // Nothing to evict in the lists, and yet full: places reserved by publishers whose events are not pushed yet.
                    if (!AwaitPushLocked())
                        return EnqueueResult.Full;
                    continue;
                }

                if (evicted is null)
                    evicted = oldest;
                else
                    (alsoEvicted ??= []).Add(oldest!);
            }

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
        using (EnterLock())
        {
            if (_intake.Closed)
                return 0;
            TakeInLocked();
            for (var i = start; i < items.Count && TryAddLocked(items[i], limit); i++)
                admitted++;
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
        using (EnterLock())
        {
            if (_intake.Closed)
                throw new BusStoppedException();
            TakeInLocked();
            if (!TryAddLocked(context, _capacity))
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

            wake = TakeReadersLocked();
        }

        ReadWaiter.WakeAll(wake, ready: true);
        return true;
    }

    /// <summary>Takes a listed waiter out (its publish was cancelled); <see langword="false"/> when a wake already took it.</summary>
    public bool TryUnlist(RoomWaiter waiter)
    {
        using (EnterLock())
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
        using (EnterLock())
        {
            // The intake holds only normal-priority events, admitted after every event in the lists: while a normal-priority
            // event is ready in the lists, it (or a higher-priority one) comes first anyway, and the intake's line stays with the
            // publishers. Taken in otherwise, before a lower-priority event could go ahead of them.
            if (_normal.Ready.Count == 0)
                TakeInLocked();
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
        using (EnterLock())
        {
            // The key's later events may still be on the intake: in the line first, so the key runs them in admission order.
            TakeInLocked();
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
        using (EnterLock())
        {
            // Only the queue moves an event out of the queued stage, under this lock: queued means in a list once the intake is in.
            TakeInLocked();
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
        using (EnterLock())
        {
            // Closed read before the intake is taken in: an event pushed after that was pushed after the close, and its
            // publisher sees the close and takes it back (see Push), so a worker that ends here strands nothing.
            var closed = _intake.Closed;
            TakeInLocked();
            if (_ready > 0)
                return new ValueTask<bool>(true);
            if (closed)
                return new ValueTask<bool>(false);
            Debug.Assert(!waiter.Listed, "A worker waits once at a time.");
            waiter.Listed = true;
            waiter.Next = _readers;
            _readers = waiter;
            // Announced before the intake is looked at again: a publisher pushes and then reads the flag, so either it sees
            // the flag and wakes this worker, or this look sees its event.
            Volatile.Write(ref _intake.ReadersListed, true);
            Interlocked.MemoryBarrier();
            if (Volatile.Read(ref _intake.Head) is not null)
            {
                TakeInLocked();
                if (_ready > 0)
                {
                    _readers = waiter.Next;
                    waiter.Next = null;
                    waiter.Listed = false;
                    Volatile.Write(ref _intake.ReadersListed, _readers is not null);
                    return new ValueTask<bool>(true);
                }
            }

            return waiter.Pending;
        }
    }

    public void Close()
    {
        ReadWaiter? readers;
        RoomWaiter? writers;
        bool ready;
        using (EnterLock())
        {
            Volatile.Write(ref _intake.Closed, true);
            Interlocked.MemoryBarrier();
            TakeInLocked();
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
        using (EnterLock())
        {
            TakeInLocked();
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

    /// <summary>Reserves a place below <paramref name="limit"/> in the count; false when there is none.</summary>
    private bool TryReserve(int limit)
    {
        var reserved = Volatile.Read(ref _intake.Reserved);
        while (true)
        {
            if (unchecked(reserved - _intake.SeenTaken) >= limit)
            {
                // Full as far as this side knows: look at the takes (the workers' line) once, and keep what was seen.
                var taken = Volatile.Read(ref _intake.Taken);
                _intake.SeenTaken = taken;
                if (unchecked(reserved - taken) >= limit)
                    return false;
            }

            var seen = Interlocked.CompareExchange(ref _intake.Reserved, reserved + 1, reserved);
            if (seen == reserved)
                return true;
            reserved = seen;
        }
    }

    /// <summary>
    /// The first half of an admission without the lock: counts an event in flight and reserves it a place below
    /// <paramref name="limit"/>; false (and nothing counted) when the queue is closed or has no place. <see cref="Push"/> is the
    /// second half.
    /// </summary>
    internal bool TryReservePlace(int limit)
    {
        if (Volatile.Read(ref _intake.Closed))
            return false;
        // Counted in flight before the place is reserved, so the depth never exceeds the in-flight count.
        _inFlight.Enter();
        if (TryReserve(limit))
            return true;
        _inFlight.Undo();
        return false;
    }

    /// <summary>
    /// Puts an event that has its place (<see cref="TryReservePlace"/>) on the intake. Then, as the push came before these reads: if
    /// the queue has closed meanwhile, the event is taken back unless a worker or the stop took it; if a worker waits, it is woken.
    /// </summary>
    internal EnqueueResult Push(EventContext context)
    {
        context.MarkQueued();
        var head = Volatile.Read(ref _intake.Head);
        while (true)
        {
            context.QueueLinks.Next = head;
            var seen = Interlocked.CompareExchange(ref _intake.Head, context, head);
            if (ReferenceEquals(seen, head))
                break;
            head = seen;
        }

        if (Volatile.Read(ref _intake.Closed))
            return TakeBackClosed(context);
        if (Volatile.Read(ref _intake.ReadersListed))
            WakeReaders();
        return EnqueueResult.Admitted;
    }

    /// <summary>The queue closed while <paramref name="context"/> was pushed: it leaves again unless it was taken already.</summary>
    private EnqueueResult TakeBackClosed(EventContext context)
    {
        ReadWaiter? readers;
        RoomWaiter? space;
        using (EnterLock())
        {
            TakeInLocked();
            // A worker draining the stopped bus (or the stop's TakeAll) took it: it runs or ends as every admitted event.
            if (context.Stage != EventContext.StageQueued)
                return EnqueueResult.Admitted;
            readers = RemoveLocked(context) ? TakeReadersLocked() : null;
            space = TakeWritersLocked();
        }

        ReadWaiter.WakeAll(readers, ready: true);
        RoomWaiter.WakeAll(space);
        return EnqueueResult.ClosedWhileAdmitting;
    }

    private void WakeReaders()
    {
        ReadWaiter? readers;
        using (EnterLock())
        {
            TakeInLocked();
            readers = TakeReadersLocked();
        }

        ReadWaiter.WakeAll(readers, ready: true);
    }

    /// <summary>
    /// Waits (spinning, then yielding) for an event on its way in to be pushed, and takes it in: true once one is, false when
    /// none is on its way (every counted event is in a list). Only a <c>DropOldest</c> admission that found nothing to evict
    /// waits here; a push takes no lock, so the wait cannot block it.
    /// </summary>
    private bool AwaitPushLocked()
    {
        var spin = new SpinWait();
        while (Volatile.Read(ref _intake.Head) is null)
        {
            if (_intake.Queued <= QueuedInListsLocked())
                return false;
            spin.SpinOnce();
        }

        TakeInLocked();
        return true;
    }

    /// <summary>
    /// Takes the queue's lock, for a <c>using</c> scope. With one worker, a spin lock with a compare-exchange to enter and a plain
    /// release write to leave: every section under it is short and runs no user code, and the worker enters and leaves it once
    /// per event, where <see cref="Lock"/>'s second interlocked operation on leaving (issue 16: ~5 % of a 1 → 1 profile, a full
    /// fence that makes the worker wait for its stores to the publisher's lines) was the most expensive step; a thread that finds
    /// it held spins, then yields its core (never sleeps a millisecond), so a holder that was descheduled gets to run. With several
    /// workers, which contend with one another for every take, a <see cref="Lock"/>, whose waiters block instead of spinning. Not
    /// reentrant either way.
    /// </summary>
    private LockScope EnterLock()
    {
#if DEBUG
        Debug.Assert(Volatile.Read(ref _intake.Owner) != Environment.CurrentManagedThreadId, "The queue's lock is not reentrant.");
#endif
        Lock.Scope shared = default;
        if (_workersLock is not null)
            shared = _workersLock.EnterScope();
        else if (Interlocked.CompareExchange(ref _intake.Locked, 1, 0) != 0)
            EnterLockContended();
#if DEBUG
        _intake.Owner = Environment.CurrentManagedThreadId;
#endif
        return new LockScope(this, shared);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterLockContended()
    {
        var spin = new SpinWait();
        do
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
        while (Volatile.Read(ref _intake.Locked) != 0 || Interlocked.CompareExchange(ref _intake.Locked, 1, 0) != 0);
    }

    /// <summary>Held from <see cref="EnterLock"/> until disposed: the release publishes every write made under the lock.</summary>
    /// <remarks>With several workers it carries the <see cref="Lock"/>'s own scope, which leaves without looking up the thread again.</remarks>
    private readonly ref struct LockScope
    {
        private readonly EventQueue _queue;
        private readonly Lock.Scope _shared;

        public LockScope(EventQueue queue, Lock.Scope shared)
        {
            _queue = queue;
            _shared = shared;
        }

        public void Dispose()
        {
#if DEBUG
            _queue._intake.Owner = 0;
#endif
            if (_queue._workersLock is null)
                Volatile.Write(ref _queue._intake.Locked, 0);
            else
                _shared.Dispose();
        }
    }

    /// <summary>The events in the lists (ready or in a key's line), of every priority: the count without those on their way in.</summary>
    private int QueuedInListsLocked()
    {
        var queued = _normal.Count;
        if (_prioritized is not null)
        {
            foreach (var (_, level) in _prioritized)
                queued += level.Count;
        }

        return queued;
    }

    /// <summary>Moves the events pushed on the intake into their lists, in push order (the intake is a stack: reversed first).</summary>
    private void TakeInLocked()
    {
        if (Volatile.Read(ref _intake.Head) is null)
            return;
        var pushed = Interlocked.Exchange(ref _intake.Head, null);
        EventContext? first = null;
        while (pushed is not null)
        {
            var next = pushed.QueueLinks.Next;
            pushed.QueueLinks.Next = first;
            first = pushed;
            pushed = next;
        }

        while (first is not null)
        {
            var next = first.QueueLinks.Next;
            first.QueueLinks.Next = null;
            PlaceLocked(first);
            first = next;
        }
    }

    /// <summary>Admits under the lock (the intake taken in first): in flight, a place below <paramref name="limit"/>, then its list.</summary>
    private bool TryAddLocked(EventContext context, int limit)
    {
        _inFlight.Enter();
        if (!TryReserve(limit))
        {
            _inFlight.Undo();
            return false;
        }

        context.MarkQueued();
        PlaceLocked(context);
        return true;
    }

    /// <summary>Puts an event that has its place in its level: ready, or in its busy key's line.</summary>
    private void PlaceLocked(EventContext context)
    {
        context.QueueSequence = unchecked(_nextSequence++);
        var level = LevelFor(context.Priority);
        level.Count++;
        if (_keys is not null && context.OrderingKey is { } key)
        {
            if (_keys.TryGetValue(key, out var line))
            {
                line.Waiting.AddLast(context);
                return;
            }

            _keys[key] = new KeyLine(key);
        }

        level.Ready.AddLast(context);
        _ready++;
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
        if (_keys is null || _intake.Queued == _ready)
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
        // Only a holder of the lock takes: a plain write, on a line the publishers read only when the queue looks full.
        Volatile.Write(ref _intake.Taken, unchecked(_intake.Taken + 1));
        context.Claim();
    }

    /// <summary>Takes every waiting worker out, as a chain for <see cref="ReadWaiter.WakeAll"/> to wake once the lock is released.</summary>
    private ReadWaiter? TakeReadersLocked()
    {
        var first = _readers;
        if (first is null)
            return null;
        for (var waiter = first; waiter is not null; waiter = waiter.Next)
            waiter.Listed = false;
        _readers = null;
        Volatile.Write(ref _intake.ReadersListed, false);
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
        // The count also holds events on their way in (a place reserved, not in a list yet), so the lists may hold fewer.
        var count = _intake.Queued;
        Debug.Assert(count >= 0 && _ready >= 0, $"count {count}, ready {_ready}");
        var queued = QueuedInListsLocked();
        var ready = _normal.Ready.Count;
        if (_prioritized is not null)
        {
            foreach (var (_, level) in _prioritized)
                ready += level.Ready.Count;
        }

        Debug.Assert(queued <= count && ready == _ready, $"count {count} vs {queued} in levels; ready {_ready} vs {ready}");
    }

    /// <summary>
    /// The count and the intake, laid out so that a publish and a take write different cache lines. The count is two running
    /// totals: places reserved (publishers, with a compare-exchange) and events taken out (holders of the lock); queued is their
    /// difference. Publishers check for room against the last total of takes they saw, and read the workers' line again only
    /// when that says full, so a publish touches the publishers' line and a take the workers' line; the intake's head moves
    /// between them only when a worker that ran out of ready events takes the intake in. Padded from every other field.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 384)]
    private struct Intake
    {
        /// <summary>The last event pushed; each links to the one pushed before it through its queue links.</summary>
        [FieldOffset(128)]
        public EventContext? Head;

        /// <summary>Places ever reserved (wrapping): events admitted, including those on their way in.</summary>
        [FieldOffset(136)]
        public int Reserved;

        /// <summary>A total of <see cref="Taken"/> a publisher saw; never ahead of it, so room it shows is there.</summary>
        [FieldOffset(140)]
        public int SeenTaken;

        /// <summary>No event is admitted any more; set under the lock.</summary>
        [FieldOffset(144)]
        public bool Closed;

        /// <summary>A worker waits in <see cref="WaitToReadAsync"/>: a publisher that pushes wakes it.</summary>
        [FieldOffset(145)]
        public bool ReadersListed;

        /// <summary>Events ever taken out of the queue (wrapping), by a worker, a queue jump, an eviction or the stop; under the lock.</summary>
        [FieldOffset(256)]
        public int Taken;

        /// <summary>The queue's lock (1 while held; see <see cref="EnterLock"/>), on the line the holders write anyway.</summary>
        [FieldOffset(260)]
        public int Locked;

#if DEBUG
        /// <summary>The managed thread holding the lock (debug builds: a thread that takes it twice fails an assertion instead of spinning forever).</summary>
        [FieldOffset(264)]
        public int Owner;
#endif

        /// <summary>Events queued and not started, wherever they wait, including those on their way in (never below the true count).</summary>
        public readonly int Queued
        {
            get
            {
                // Takes first: a take after this read only makes the difference larger than the truth, never negative.
                var taken = Volatile.Read(ref Unsafe.AsRef(in Taken));
                return unchecked(Volatile.Read(ref Unsafe.AsRef(in Reserved)) - taken);
            }
        }
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

    /// <summary>
    /// The queue closed while the event was on its way in, and it was taken back: it counts in flight still (a stop may be waiting
    /// for it), so the caller ends it and counts it out.
    /// </summary>
    ClosedWhileAdmitting,
}
