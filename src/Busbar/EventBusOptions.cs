namespace Busbar;

/// <summary>Settings of one bus. Validated once when the bus is built.</summary>
public sealed record EventBusOptions
{
    /// <summary>The bus name, used in <see cref="EventContext.Path"/>, logs and metrics.</summary>
    /// <value>Default <see langword="null"/>: a unique name <c>bus-N</c> is generated.</value>
    /// <remarks>Names of buses that forward to each other must differ, or loop prevention cannot tell them apart.</remarks>
    public string? Name { get; init; }

    /// <summary>How many events the queue holds before <see cref="FullMode"/> applies.</summary>
    /// <value>Default 10,000. Must be at least 1.</value>
    public int Capacity { get; init; } = 10_000;

    /// <summary>What a publish does when the queue is full.</summary>
    /// <value>Default <see cref="BusFullMode.Wait"/>.</value>
    /// <remarks>
    /// A handler publishing into its own bus never waits for room, since that could deadlock the
    /// bus: its event is admitted above capacity, up to twice the capacity, and past that the
    /// publish throws <see cref="BusFullException"/>.
    /// </remarks>
    public BusFullMode FullMode { get; init; } = BusFullMode.Wait;

    /// <summary>How many events are handled at the same time.</summary>
    /// <value>Default 1: strict FIFO (within a priority) for the whole bus.</value>
    /// <remarks>With more than one, events sharing an <see cref="PublishOptions.OrderingKey"/> are still handled one at a time, in order.</remarks>
    public int MaxConcurrentEvents { get; init; } = 1;

    /// <summary>How handlers of one priority tier run for one event.</summary>
    /// <value>Default <see cref="Busbar.HandlerConcurrency.Serial"/>.</value>
    public HandlerConcurrency HandlerConcurrency { get; init; } = HandlerConcurrency.Serial;

    /// <summary>When an event counts as handled.</summary>
    /// <value>Default <see cref="CompletionMode.All"/>.</value>
    public CompletionMode Completion { get; init; } = CompletionMode.All;

    /// <summary>Timeout for each handler attempt when neither the subscription nor the publish sets one.</summary>
    /// <value>Default <see langword="null"/>: no timeout.</value>
    public TimeSpan? HandlerTimeout { get; init; }

    /// <summary>Handlers slower than this log a warning and count in a metric; they are not cancelled.</summary>
    /// <value>Default 1 second. <see langword="null"/> turns the check off.</value>
    public TimeSpan? SlowHandlerThreshold { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How many recent events the bus remembers for <c>WaitForAsync</c> and history queries.</summary>
    /// <value>Default 1,000. 0 keeps no history (WaitForAsync then sees only future events).</value>
    public int HistoryCapacity { get; init; } = 1_000;

    /// <summary>How many dead letters the in-memory store keeps; past that the oldest is evicted and counted.</summary>
    /// <value>Default 10,000.</value>
    public int DeadLetterCapacity { get; init; } = 10_000;

    /// <summary>Whether the handlers of a queued event run in the publisher's <see cref="System.Threading.ExecutionContext"/>.</summary>
    /// <value>Default <see langword="false"/>: handlers of queued events run in the worker's own, empty context.</value>
    /// <remarks>
    /// <para>
    /// When set, <c>PublishAsync</c>, <c>TryPublish</c> and <c>PublishBatchAsync</c> capture the caller's execution
    /// context with each event, and the event's handlers run in it, as <c>Task.Run</c> would: values the publisher
    /// set in an <see cref="AsyncLocal{T}"/> (a tenant, a culture scope, a user id) are visible in the handlers.
    /// A queue jump runs in the publisher's context the same way. Inline dispatch always runs in the caller's context.
    /// </para>
    /// <para>
    /// Off by default on purpose: request-scoped state (<c>IHttpContextAccessor.HttpContext</c>, an ambient
    /// transaction, a scoped service held in an async local) would then be visible to background handlers that may
    /// run after the request has ended. The captured context is released when the event's processing starts, or when it
    /// completes without starting (dropped, rejected, cancelled).
    /// </para>
    /// <para>
    /// The bus's own tracing is unchanged: a handler's span is still parented by the publish span carried in the
    /// event's headers, and the publisher's <see cref="System.Diagnostics.Activity.Current"/> is not made current
    /// in the handlers. Cost: a capture per publish (no allocation) and, per event, one state object and the switch
    /// into the captured context.
    /// </para>
    /// </remarks>
    public bool FlowExecutionContext { get; init; }

    /// <summary>Whether failed and timed-out invocations of inline events (<c>SendAsync</c>, <c>InvokeAsync</c>) go to the dead-letter store too.</summary>
    /// <value>Default <see langword="false"/>: only queued events are dead-lettered.</value>
    /// <remarks>
    /// An inline caller already holds the failure (<c>SendAsync</c> throws it, <c>InvokeAsync</c> returns it in the
    /// outcome), so by default it is not also kept for a later re-drive. Set this when every failure, however it was
    /// dispatched, should be in one place. It is still logged and counted either way.
    /// </remarks>
    public bool DeadLetterInlineFailures { get; init; }

    /// <summary>How long <c>StopAsync</c> and <c>DisposeAsync</c> drain before cancelling handlers.</summary>
    /// <value>Default 30 seconds.</value>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the bus waits for a handler to end after cancelling its token (handler timeout, event
    /// deadline, first-wins completion, stop) before it abandons the handler.
    /// </summary>
    /// <value>Default 5 seconds. <see cref="TimeSpan.Zero"/> abandons at once. At most one hour.</value>
    /// <remarks>
    /// A handler that honours its token ends within the grace: its <c>finally</c> blocks and its DI scope's
    /// disposal run before the event completes and before <c>StopAsync</c> returns, and it is not reported as
    /// abandoned. A handler still running after the grace is abandoned: a warning is logged, the event goes on
    /// (or completes) without it, and the handler keeps running unobserved; an exception it throws later is
    /// observed and dropped. The grace runs on the real clock, not on the bus's <see cref="TimeProvider"/>, so a
    /// test clock that is never advanced cannot hold an event forever. A handler ignoring its token holds its
    /// event (and a worker) for its timeout plus this grace.
    /// </remarks>
    public TimeSpan CancellationGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Called once for every event the bus sheds: dropped (<see cref="BusFullMode.DropNewest"/>, <see cref="BusFullMode.DropOldest"/>)
    /// or rejected (<see cref="BusFullMode.Reject"/>, or the queue closed under the publish).</summary>
    /// <value>Default <see langword="null"/>.</value>
    /// <remarks>Runs on the publishing thread; keep it short and do not throw (exceptions are caught and logged).</remarks>
    public Action<EventShedArguments>? OnEventShed { get; init; }

    internal void Validate()
    {
        if (Name is not null && string.IsNullOrWhiteSpace(Name))
            throw new ArgumentException("EventBusOptions.Name must not be empty or white space.", nameof(Name));
        if (Capacity < 1)
            throw new ArgumentOutOfRangeException(nameof(Capacity), Capacity, $"EventBusOptions.Capacity must be at least 1 (was {Capacity}).");
        if (!Enum.IsDefined(FullMode))
            throw new ArgumentOutOfRangeException(nameof(FullMode), FullMode, $"EventBusOptions.FullMode has an unknown value {(int)FullMode}.");
        if (MaxConcurrentEvents < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxConcurrentEvents), MaxConcurrentEvents, $"EventBusOptions.MaxConcurrentEvents must be at least 1 (was {MaxConcurrentEvents}).");
        if (!Enum.IsDefined(HandlerConcurrency))
            throw new ArgumentOutOfRangeException(nameof(HandlerConcurrency), HandlerConcurrency, $"EventBusOptions.HandlerConcurrency has an unknown value {(int)HandlerConcurrency}.");
        if (!Enum.IsDefined(Completion))
            throw new ArgumentOutOfRangeException(nameof(Completion), Completion, $"EventBusOptions.Completion has an unknown value {(int)Completion}.");
        if (HandlerTimeout is { } t && t <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(HandlerTimeout), t, $"EventBusOptions.HandlerTimeout must be positive (was {t}).");
        if (SlowHandlerThreshold is { } s && s <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(SlowHandlerThreshold), s, $"EventBusOptions.SlowHandlerThreshold must be positive (was {s}).");
        if (HistoryCapacity < 0)
            throw new ArgumentOutOfRangeException(nameof(HistoryCapacity), HistoryCapacity, $"EventBusOptions.HistoryCapacity must not be negative (was {HistoryCapacity}).");
        if (DeadLetterCapacity < 1)
            throw new ArgumentOutOfRangeException(nameof(DeadLetterCapacity), DeadLetterCapacity, $"EventBusOptions.DeadLetterCapacity must be at least 1 (was {DeadLetterCapacity}).");
        if (CancellationGrace < TimeSpan.Zero || CancellationGrace > TimeSpan.FromHours(1))
            throw new ArgumentOutOfRangeException(nameof(CancellationGrace), CancellationGrace, $"EventBusOptions.CancellationGrace must be between zero and one hour (was {CancellationGrace}).");
        if (DrainTimeout < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(DrainTimeout), DrainTimeout, $"EventBusOptions.DrainTimeout must not be negative (was {DrainTimeout}).");
    }
}
