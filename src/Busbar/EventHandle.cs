using System.Runtime.CompilerServices;

namespace Busbar;

/// <summary>
/// A published event. Await it to get its <see cref="EventOutcome"/>; awaiting never hangs, since
/// every event completes, including when the bus stops.
/// </summary>
/// <remarks>
/// <para>
/// Awaited inside a handler of the same bus while the event is still queued, the event is handled
/// at once on the awaiting handler (a queue jump): only that event, so a serial bus never deadlocks
/// on a handler that waits for its child.
/// </para>
/// <para>
/// <c>default(EventHandle)</c> refers to no event (<see cref="IsDefault"/>): every member that reads
/// the event throws an <see cref="InvalidOperationException"/> saying so; equality,
/// <see cref="GetHashCode"/> and <see cref="ToString"/> work.
/// </para>
/// </remarks>
public readonly struct EventHandle : IEquatable<EventHandle>
{
    private readonly EventContext? _context;

    internal EventHandle(EventContext context) => _context = context;

    /// <summary>True for <c>default(EventHandle)</c>, which refers to no event.</summary>
    public bool IsDefault => _context is null;

    /// <summary>The event's envelope.</summary>
    /// <exception cref="InvalidOperationException">The handle is <c>default</c>.</exception>
    public EventContext Context => _context ?? throw DefaultHandle();

    /// <summary>The event's id.</summary>
    /// <exception cref="InvalidOperationException">The handle is <c>default</c>.</exception>
    public Guid EventId => Context.EventId;

    /// <summary>The current status: <see cref="EventStatus.Pending"/> until the event completes.</summary>
    /// <exception cref="InvalidOperationException">The handle is <c>default</c>.</exception>
    public EventStatus Status => Context.Status;

    /// <summary>True once the event has its final outcome.</summary>
    /// <exception cref="InvalidOperationException">The handle is <c>default</c>.</exception>
    public bool IsCompleted => Context.IsCompleted;

    /// <summary>Waits for the outcome.</summary>
    /// <returns>An awaiter.</returns>
    /// <exception cref="InvalidOperationException">The handle is <c>default</c>.</exception>
    public ValueTaskAwaiter<EventOutcome> GetAwaiter() => AsValueTask().GetAwaiter();

    /// <summary>The outcome as a <see cref="ValueTask{TResult}"/>.</summary>
    /// <returns>A task that completes with the outcome.</returns>
    /// <remarks>Await it once, as any <see cref="ValueTask{TResult}"/>; use <see cref="AsTask"/> to await it several times or combine it.</remarks>
    /// <exception cref="InvalidOperationException">The handle is <c>default</c>.</exception>
    public ValueTask<EventOutcome> AsValueTask()
    {
        var context = Context;
        return context.LocalBus is { } bus
            ? bus.AwaitAsync(context)
            : context.IsCompleted ? new ValueTask<EventOutcome>(context.GetOutcome()) : context.WaitForOutcomeAsync();
    }

    /// <summary>The outcome as a <see cref="Task{TResult}"/>, for <see cref="Task.WhenAll{TResult}(Task{TResult}[])"/>, <see cref="Task.WhenAny{TResult}(Task{TResult}[])"/> or awaiting more than once.</summary>
    /// <returns>A task that completes with the outcome; already completed when the event is.</returns>
    /// <remarks>Allocates a task unless the event has completed; awaiting the handle itself allocates nothing on that path.</remarks>
    /// <exception cref="InvalidOperationException">The handle is <c>default</c>.</exception>
    public Task<EventOutcome> AsTask() => AsValueTask().AsTask();

    /// <summary>Waits for the outcome, giving up (not cancelling the event) when <paramref name="cancellationToken"/> fires.</summary>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>The outcome.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first; the event goes on.</exception>
    /// <exception cref="InvalidOperationException">The handle is <c>default</c>.</exception>
    public Task<EventOutcome> WaitAsync(CancellationToken cancellationToken) => AsTask().WaitAsync(cancellationToken);

    /// <summary>
    /// Waits for the outcome at most <paramref name="timeout"/>, giving up (not cancelling the event)
    /// when the time is up or <paramref name="cancellationToken"/> fires.
    /// </summary>
    /// <param name="timeout">The longest wait; <see cref="Timeout.InfiniteTimeSpan"/> waits until the event completes.</param>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>The outcome.</returns>
    /// <exception cref="TimeoutException">The event had not completed after <paramref name="timeout"/>; it goes on.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first; the event goes on.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite).</exception>
    /// <exception cref="InvalidOperationException">The handle is <c>default</c>.</exception>
    public Task<EventOutcome> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, $"The timeout must be positive, zero or Timeout.InfiniteTimeSpan (was {timeout}).");
        var context = Context;
        return AsTask().WaitAsync(timeout, context.Clock, cancellationToken);
    }

    /// <inheritdoc/>
    public bool Equals(EventHandle other) => ReferenceEquals(_context, other._context);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is EventHandle other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => _context?.GetHashCode() ?? 0;

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
    public override string ToString() => _context?.ToString() ?? "(default EventHandle)";

    private static InvalidOperationException DefaultHandle() =>
        new("This EventHandle is default(EventHandle): it refers to no event. Use the handle returned by PublishAsync, TryPublish or PublishBatchAsync (check IsDefault first where a handle may be unset).");
}
