namespace Busbar;

/// <summary>A handler class, typically resolved from dependency injection in a scope per invocation.</summary>
/// <typeparam name="T">The event type; subscriptions are polymorphic, so a base type or interface receives every assignable event.</typeparam>
public interface IEventHandler<in T>
{
    /// <summary>Handles one event.</summary>
    /// <param name="event">The event.</param>
    /// <param name="context">Its envelope: ids, name, attempt, headers.</param>
    /// <param name="cancellationToken">Cancelled on timeout, deadline, <see cref="CompletionMode.First"/> or bus stop.</param>
    /// <returns>A task that completes when the event is handled.</returns>
    ValueTask HandleAsync(T @event, EventContext context, CancellationToken cancellationToken);
}
