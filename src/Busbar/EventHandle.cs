using System.Runtime.CompilerServices;

namespace Busbar;

/// <summary>
/// A published event. Await it to get its <see cref="EventOutcome"/>; awaiting never hangs, since
/// every event completes, including when the bus stops.
/// </summary>
/// <remarks>
/// Awaited inside a handler of the same bus while the event is still queued, the event is handled
/// at once on the awaiting handler (a queue jump): only that event, so a serial bus never deadlocks
/// on a handler that waits for its child.
/// </remarks>
public readonly struct EventHandle : IEquatable<EventHandle>
{
    internal EventHandle(EventContext context) => Context = context;

    /// <summary>The event's envelope.</summary>
    public EventContext Context { get; }

    /// <summary>The event's id.</summary>
    public Guid EventId => Context.EventId;

    /// <summary>The current status: <see cref="EventStatus.Pending"/> until the event completes.</summary>
    public EventStatus Status => Context.Status;

    /// <summary>True once the event has its final outcome.</summary>
    public bool IsCompleted => Context.IsCompleted;

    /// <summary>Waits for the outcome.</summary>
    /// <returns>An awaiter.</returns>
    public ValueTaskAwaiter<EventOutcome> GetAwaiter() => AsValueTask().GetAwaiter();

    /// <summary>The outcome as a <see cref="ValueTask{TResult}"/>.</summary>
    /// <returns>A task that completes with the outcome.</returns>
    public ValueTask<EventOutcome> AsValueTask() => Context.Bus is { } bus
        ? bus.AwaitAsync(Context)
        : Context.IsCompleted ? new ValueTask<EventOutcome>(Context.GetOutcome()) : Context.WaitForOutcomeAsync();

    /// <summary>Waits for the outcome, giving up (not cancelling the event) when <paramref name="cancellationToken"/> fires.</summary>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>The outcome.</returns>
    public async Task<EventOutcome> WaitAsync(CancellationToken cancellationToken) =>
        await AsValueTask().AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    public bool Equals(EventHandle other) => ReferenceEquals(Context, other.Context);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is EventHandle other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => Context?.GetHashCode() ?? 0;

    /// <summary>Compares two handles.</summary>
    /// <param name="left">A handle.</param>
    /// <param name="right">Another.</param>
    /// <returns>True when both refer to the same event.</returns>
    public static bool operator ==(EventHandle left, EventHandle right) => left.Equals(right);

    /// <summary>Compares two handles.</summary>
    /// <param name="left">A handle.</param>
    /// <param name="right">Another.</param>
    /// <returns>True when they refer to different events.</returns>
    public static bool operator !=(EventHandle left, EventHandle right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => Context?.ToString() ?? "(none)";
}
