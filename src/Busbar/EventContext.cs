using System.Diagnostics;
using Busbar.Dispatch;
using Busbar.Routing;

namespace Busbar;

/// <summary>
/// The envelope of one event: its ids, name, routing and delivery data. Handlers receive it beside
/// the payload; <see cref="Current"/> returns the one of the handler running in the caller's flow.
/// </summary>
/// <remarks>
/// For inline dispatch (<c>SendAsync</c>) the context lives only while the handlers run; copy what
/// you need instead of keeping the object.
/// </remarks>
public sealed partial class EventContext
{
    private static readonly IReadOnlyDictionary<string, string> s_noHeaders = new Dictionary<string, string>(0);

    private Guid _eventId;

    /// <summary><see cref="CreatedAt"/> in UTC ticks, 0 until set; an offset other than zero is kept in <see cref="Extras"/>.</summary>
    private long _createdAtTicks;

    /// <summary>
    /// What only some events have, in one reference: <see langword="null"/> for a root event published without options (most
    /// events), a <see cref="Lineage"/> for an event with a parent or children and nothing else rare, the
    /// <see cref="Transport.ITransportDelivery"/> of a consumed event with nothing else rare (its <see cref="Attempt"/> is the
    /// delivery count), or an <see cref="Extras"/> (which holds the lineage and the delivery too, when there are). Replaced, never mutated back, by <see cref="GetExtras"/> and
    /// <see cref="GetLineage"/>, which race safely.
    /// </summary>
    private object? _side;

    /// <summary>Creates a context the bus admits: its origin and clock are the bus's.</summary>
    internal EventContext(InProcessEventBus bus, object payload, string name)
    {
        LocalBus = bus;
        Payload = payload;
        Name = name;
    }

    /// <summary>Creates a context that no local bus admitted (a broker delivery, a unit test of the engine).</summary>
    /// <param name="payload">The event.</param>
    /// <param name="name">The event's dotted name.</param>
    /// <param name="origin">The name that starts <see cref="Path"/> and tags telemetry: the bus or consumer that created it.</param>
    /// <param name="clock">The clock of <see cref="CreatedAt"/> when it is not set.</param>
    internal EventContext(object payload, string name, string origin, TimeProvider clock)
    {
        Payload = payload;
        Name = name;
        var extras = GetExtras();
        extras.Origin = origin;
        extras.Clock = clock;
    }

    /// <summary>The event's id: a UUIDv7, unique and time-ordered. Kept when the event is forwarded or replayed.</summary>
    public Guid EventId
    {
        get
        {
            if (_eventId == Guid.Empty)
            {
                // Only inline contexts get here (queued events are given their id at publish): two
                // threads asking at once must not each invent a different id.
                lock (this)
                {
                    if (_eventId == Guid.Empty)
                        _eventId = Dispatch.EventIds.Create(CreatedAt);
                }
            }

            return _eventId;
        }
        internal set => _eventId = value;
    }

    /// <summary>The event's dotted name.</summary>
    public string Name { get; internal set; }

    /// <summary>The event payload.</summary>
    public object Event => Payload;

    /// <summary>Shared by every event of one causal chain: inherited from the handler that published it, else its own id.</summary>
    public Guid CorrelationId
    {
        get => CorrelationIdValue == Guid.Empty ? EventId : CorrelationIdValue;
        internal set => CorrelationIdValue = value;
    }

    /// <summary>The id of the event whose handler published this one, or <see langword="null"/> for a root event.</summary>
    public Guid? CausationId
    {
        get => LineageOrNull?.CausationId;
        internal set
        {
            if (value is not null || LineageOrNull is not null)
                GetLineage().CausationId = value;
        }
    }

    /// <summary>The names of the buses that accepted this event, in order; used to stop forwarding loops.</summary>
    public IReadOnlyList<string> Path
    {
        get
        {
            var extras = GetExtras();
            return extras.Path ??= [Origin];
        }
        internal set => GetExtras().Path = value;
    }

    /// <summary>When the event was published, from the bus's <see cref="TimeProvider"/>.</summary>
    public DateTimeOffset CreatedAt
    {
        get
        {
            var ticks = _createdAtTicks;
            if (ticks == 0)
            {
                var now = Clock.GetUtcNow();
                SetCreatedAt(now);
                return now;
            }

            var utc = new DateTimeOffset(ticks, TimeSpan.Zero);
            return ExtrasOrNull?.CreatedAtOffset is { } offset ? utc.ToOffset(offset) : utc;
        }
        internal set => SetCreatedAt(value);
    }

    /// <summary>Queue priority: higher is dequeued first.</summary>
    public int Priority
    {
        get => ExtrasOrNull?.Priority ?? 0;
        internal set
        {
            if (value != 0 || ExtrasOrNull is not null)
                GetExtras().Priority = value;
        }
    }

    /// <summary>Events sharing a key are handled one at a time, in order.</summary>
    public string? OrderingKey
    {
        get => ExtrasOrNull?.OrderingKey;
        internal set
        {
            if (value is not null || ExtrasOrNull is not null)
                GetExtras().OrderingKey = value;
        }
    }

    /// <summary>When handling must be over; handlers still running then are cancelled.</summary>
    public DateTimeOffset? Deadline
    {
        get => ExtrasOrNull?.Deadline;
        internal set
        {
            if (value is not null || ExtrasOrNull is not null)
                GetExtras().Deadline = value;
        }
    }

    /// <summary>String headers, including W3C trace context (<c>traceparent</c>) when tracing is on.</summary>
    public IReadOnlyDictionary<string, string> Headers
    {
        get => ExtrasOrNull?.Headers ?? s_noHeaders;
        internal set
        {
            if (!ReferenceEquals(value, s_noHeaders) || ExtrasOrNull is not null)
                GetExtras().Headers = value;
        }
    }

    /// <summary>Delivery attempt, 1-based: retries and replays after a restart increase it.</summary>
    public int Attempt
    {
        get => Volatile.Read(ref _side) switch
        {
            Extras extras => extras.Attempt,
            Transport.ITransportDelivery delivery => Math.Max(1, delivery.DeliveryCount),
            _ => 1,
        };
        internal set
        {
            if (value != Attempt || ExtrasOrNull is not null)
                GetExtras().Attempt = value;
        }
    }

    /// <summary>The context of the handler running in the caller's async flow, or <see langword="null"/> outside handlers.</summary>
    public static EventContext? Current => Ambient.CurrentContext;

    /// <summary>
    /// The bus handling the event: inside a handler, the bus that admitted the event and runs its handlers. For a forwarded
    /// event it is the bus that received it, so a handler can publish follow-ups on the same bus without capturing it.
    /// </summary>
    /// <value>
    /// The bus for every event published, sent, invoked, forwarded, recovered from a write-ahead log, re-driven or consumed from
    /// a broker transport, and for the context of every dead letter a bus holds (those its write-ahead log kept from an earlier
    /// run included); <see langword="null"/> only for a context created outside a bus.
    /// </value>
    public IEventBus? Bus => LocalBus;

    /// <summary>The bus that admitted or received the event; <see langword="null"/> for a context no bus handles.</summary>
    internal InProcessEventBus? LocalBus { get; private set; }

    /// <summary>The name of the bus (or consumer) that created the context.</summary>
    /// <remarks>A context a bus created reads it from the bus; one created without a bus keeps it (a later <see cref="BindTo"/> does not change it).</remarks>
    internal string Origin => ExtrasOrNull?.Origin ?? LocalBus!.Name;

    /// <summary>The clock of the bus (or consumer) that created the context.</summary>
    internal TimeProvider Clock => ExtrasOrNull?.Clock ?? LocalBus!.TimeProvider;

    internal object Payload { get; private set; }

    internal Guid CorrelationIdValue
    {
        get => LineageOrNull?.CorrelationId ?? Guid.Empty;
        set
        {
            if (value != Guid.Empty || LineageOrNull is not null)
                GetLineage().CorrelationId = value;
        }
    }

    internal PublishOptions? Options
    {
        get => ExtrasOrNull?.Options;
        set
        {
            if (value is not null || ExtrasOrNull is not null)
                GetExtras().Options = value;
        }
    }

    /// <summary>When the event was queued (a <see cref="TimeProvider"/> timestamp) for its dwell time; 0 unless someone measures dwell.</summary>
    internal long EnqueuedTimestamp
    {
        get => ExtrasOrNull?.EnqueuedTimestamp ?? 0;
        set
        {
            if (value != 0 || ExtrasOrNull is not null)
                GetExtras().EnqueuedTimestamp = value;
        }
    }

    private void SetCreatedAt(DateTimeOffset value)
    {
        _createdAtTicks = value.UtcTicks;
        if (value.Offset != TimeSpan.Zero || ExtrasOrNull is not null)
            GetExtras().CreatedAtOffset = value.Offset == TimeSpan.Zero ? null : value.Offset;
    }

    /// <summary>The extras, created on first use; a racing creator adopts the one that won.</summary>
    private Extras GetExtras()
    {
        while (true)
        {
            var side = Volatile.Read(ref _side);
            if (side is Extras extras)
                return extras;
            var created = side is Transport.ITransportDelivery delivery
                ? new Extras { Delivery = delivery, Attempt = Math.Max(1, delivery.DeliveryCount) }
                : new Extras { Lineage = (Lineage?)side };
            if (Interlocked.CompareExchange(ref _side, created, side) == side)
                return created;
        }
    }

    /// <summary>The lineage, created on first use like <see cref="GetExtras"/>.</summary>
    private Lineage GetLineage()
    {
        while (true)
        {
            var side = Volatile.Read(ref _side);
            switch (side)
            {
                case Lineage lineage:
                    return lineage;
                case Extras extras:
                    return Volatile.Read(ref extras.Lineage) ?? Interlocked.CompareExchange(ref extras.Lineage, new Lineage(), null) ?? extras.Lineage!;
                case Transport.ITransportDelivery:
                    // A consumed event with a lineage: the delivery moves into extras, which then hold both.
                    GetExtras();
                    break;
                default:
                    var created = new Lineage();
                    if (Interlocked.CompareExchange(ref _side, created, null) is null)
                        return created;
                    break;
            }
        }
    }

    /// <summary>The envelope fields most events leave unset and the links only some events have; see <see cref="Extras"/>.</summary>
    private Extras? ExtrasOrNull => _side as Extras;

    /// <summary>Correlation, causation, the publisher link and the children of an event that has them.</summary>
    private Lineage? LineageOrNull
    {
        get
        {
            var side = Volatile.Read(ref _side);
            return side is Extras extras ? Volatile.Read(ref extras.Lineage) : side as Lineage;
        }
    }

    internal void ResetForInline(InProcessEventBus bus, object payload, string name)
    {
        // A spare context is reused by the next send on its thread, mostly on the same bus and for the same event type:
        // writing only what changed spares the inline hot path most of its GC write barriers.
        if (!ReferenceEquals(LocalBus, bus))
            LocalBus = bus;

        Payload = payload;
        if (!ReferenceEquals(Name, name))
            Name = name;
        // Besides, what a send may have changed: an id or clock read, lineage or extras, and the engine's state when the dispatcher
        // took the event over. Each is written only when set, since a send that ran a plan synchronously changed none of them
        // (issue 16: the unconditional writes were ~3 ns of a ~34 ns send). The queue's part is never set on an inline context.
        if (_eventId != Guid.Empty)
            _eventId = Guid.Empty;
        if (_createdAtTicks != 0)
            _createdAtTicks = 0;
        if (_side is not null)
            _side = null;
        if (DispatchStateChanged)
            ResetDispatchState();
        Debug.Assert(QueueLinks.Previous is null && QueueLinks.Next is null && QueueSequence == 0 && !InKeyLine, "An inline context is never queued.");
    }

    /// <summary>The bus that admits a context created without one (an event recovered from the write-ahead log, a broker delivery) binds it to itself.</summary>
    internal void BindTo(InProcessEventBus bus) => LocalBus = bus;

    internal EventContext CloneForAttempt(int attempt, object? payload = null)
    {
        var clone = LocalBus is { } bus && ExtrasOrNull?.Origin is null
            ? new EventContext(bus, payload ?? Payload, Name)
            : new EventContext(payload ?? Payload, Name, Origin, Clock) { LocalBus = LocalBus };
        clone._eventId = EventId;
        clone.CreatedAt = CreatedAt;
        clone.Priority = Priority;
        clone.Attempt = attempt;
        if (LineageOrNull is { } lineage)
        {
            var copied = clone.GetLineage();
            copied.CorrelationId = lineage.CorrelationId;
            copied.CausationId = lineage.CausationId;
        }

        if (ExtrasOrNull is { } extras)
        {
            var copy = clone.GetExtras();
            copy.Path = extras.Path;
            copy.OrderingKey = extras.OrderingKey;
            copy.Deadline = extras.Deadline;
            copy.Headers = extras.Headers;
            copy.Options = extras.Options;
        }

        return clone;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {EventId}";

    /// <summary>
    /// What a context holds only for some events: the origin and clock of a context no bus created, the envelope
    /// fields a plain publish leaves unset (ordering key, deadline, headers, options, a forwarding path, a priority, an
    /// attempt after the first, a creation time not in UTC), the timestamps only a metrics listener or debug log asks
    /// for, and the links of events that have a settler of their own, a flowed execution context, a publish span or a
    /// broker delivery. Kept apart so a plain queued event, which has none of them, costs one small object instead of
    /// one that carries them all (issue 16).
    /// </summary>
    private sealed class Extras
    {
        /// <summary>The event's lineage when it has one; see <see cref="_side"/>.</summary>
        public Lineage? Lineage;
        public int Priority;
        public int Attempt = 1;
        public TimeSpan? CreatedAtOffset;
        public long EnqueuedTimestamp;
        public long PublishStartTimestamp;

        /// <summary>Set only for a context created without a bus; otherwise the bus's name and clock.</summary>
        public string? Origin;
        public TimeProvider? Clock;
        public IReadOnlyList<string>? Path;
        public string? OrderingKey;
        public DateTimeOffset? Deadline;
        public IReadOnlyDictionary<string, string>? Headers;
        public PublishOptions? Options;
        public LocalSettler? Settler;
        public ExecutionContext? FlowedExecutionContext;
        public System.Diagnostics.Activity? PublishActivity;
        public Transport.ITransportDelivery? Delivery;
    }

    /// <summary>
    /// Where an event comes from and what it caused: its correlation and causation, until admission the event and
    /// handler that published it, and the events its handlers published. Apart from <see cref="Extras"/> because every
    /// event a handler publishes (or that publishes one) has it, and most have nothing else; a root event has none
    /// (its correlation is its own id, its causation none).
    /// </summary>
    private sealed class Lineage
    {
        public Guid CorrelationId;
        public Guid? CausationId;
        public EventContext? Publisher;
        public Subscription? PublisherHandler;
        public List<ChildLink>? Children;
    }
}
