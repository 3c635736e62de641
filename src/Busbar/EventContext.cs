using Busbar.Dispatch;

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
    private DateTimeOffset _createdAt;
    private IReadOnlyList<string>? _path;

    internal EventContext(InProcessEventBus bus, object payload, string name)
        : this(payload, name, bus.Name, bus.TimeProvider)
    {
        LocalBus = bus;
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
        Origin = origin;
        Clock = clock;
        Headers = s_noHeaders;
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
    public Guid? CausationId { get; internal set; }

    /// <summary>The names of the buses that accepted this event, in order; used to stop forwarding loops.</summary>
    public IReadOnlyList<string> Path
    {
        get => _path ??= [Origin];
        internal set => _path = value;
    }

    /// <summary>When the event was published, from the bus's <see cref="TimeProvider"/>.</summary>
    public DateTimeOffset CreatedAt
    {
        get
        {
            if (_createdAt == default)
                _createdAt = Clock.GetUtcNow();
            return _createdAt;
        }
        internal set => _createdAt = value;
    }

    /// <summary>Queue priority: higher is dequeued first.</summary>
    public int Priority { get; internal set; }

    /// <summary>Events sharing a key are handled one at a time, in order.</summary>
    public string? OrderingKey { get; internal set; }

    /// <summary>When handling must be over; handlers still running then are cancelled.</summary>
    public DateTimeOffset? Deadline { get; internal set; }

    /// <summary>String headers, including W3C trace context (<c>traceparent</c>) when tracing is on.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; internal set; }

    /// <summary>Delivery attempt, 1-based: retries and replays after a restart increase it.</summary>
    public int Attempt { get; internal set; } = 1;

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
    internal string Origin { get; private set; }

    /// <summary>The clock of the bus (or consumer) that created the context.</summary>
    internal TimeProvider Clock { get; private set; }

    internal object Payload { get; private set; }

    internal Guid CorrelationIdValue { get; set; }

    internal PublishOptions? Options { get; set; }

    internal void ResetForInline(InProcessEventBus bus, object payload, string name)
    {
        LocalBus = bus;
        Origin = bus.Name;
        Clock = bus.TimeProvider;
        Payload = payload;
        Name = name;
        _eventId = Guid.Empty;
        _createdAt = default;
        _path = null;
        CorrelationIdValue = Guid.Empty;
        CausationId = null;
        Priority = 0;
        OrderingKey = null;
        Deadline = null;
        Headers = s_noHeaders;
        Attempt = 1;
        Options = null;
        ResetDispatchState();
    }

    /// <summary>The bus that admits a context created without one (an event recovered from the write-ahead log, a broker delivery) binds it to itself.</summary>
    internal void BindTo(InProcessEventBus bus) => LocalBus = bus;

    internal EventContext CloneForAttempt(int attempt, object? payload = null)
    {
        var clone = new EventContext(payload ?? Payload, Name, Origin, Clock)
        {
            LocalBus = LocalBus,
            _eventId = EventId,
            _createdAt = CreatedAt,
            _path = _path,
            CorrelationIdValue = CorrelationIdValue,
            CausationId = CausationId,
            Priority = Priority,
            OrderingKey = OrderingKey,
            Deadline = Deadline,
            Headers = Headers,
            Attempt = attempt,
            Options = Options,
        };
        return clone;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {EventId}";
}
