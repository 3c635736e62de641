namespace Busbar;

/// <summary>How an event ended: its status and what each handler did.</summary>
public sealed class EventOutcome
{
    internal EventOutcome(EventContext context, EventStatus status, IReadOnlyList<HandlerResult> handlers)
    {
        Context = context;
        Status = status;
        Handlers = handlers;
    }

    /// <summary>The event's envelope.</summary>
    public EventContext Context { get; }

    /// <summary>The final status.</summary>
    public EventStatus Status { get; }

    /// <summary>One entry per matching handler, in the order they were scheduled.</summary>
    public IReadOnlyList<HandlerResult> Handlers { get; }

    /// <summary>Ids of every event published by this event's handlers.</summary>
    public IReadOnlyList<Guid> ChildEventIds => Context.GetAllChildren();

    /// <summary>True when the status is <see cref="EventStatus.Completed"/>.</summary>
    public bool IsSuccess => Status == EventStatus.Completed;

    /// <summary>The values of the handlers that succeeded with a result of type <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <returns>The results in handler order.</returns>
    public IReadOnlyList<T> Results<T>()
    {
        var list = new List<T>();
        foreach (var handler in Handlers)
        {
            if (handler.Status == HandlerStatus.Succeeded && handler.Value is T value)
                list.Add(value);
        }

        return list;
    }

    /// <summary>The first successful result of type <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <returns>The value.</returns>
    /// <exception cref="InvalidOperationException">No handler succeeded with such a result.</exception>
    public T FirstResult<T>()
    {
        foreach (var handler in Handlers)
        {
            if (handler.Status == HandlerStatus.Succeeded && handler.Value is T value)
                return value;
        }

        throw new InvalidOperationException($"No handler of event '{Context.Name}' ({Context.EventId}) succeeded with a result of type {typeof(T).Name}; status {Status}.");
    }

    /// <summary>Throws when a handler failed or timed out: the original exception for one, an <see cref="AggregateException"/> for several.</summary>
    /// <returns>This outcome, for chaining.</returns>
    /// <exception cref="OperationCanceledException">The event was cancelled, dropped or rejected without a handler exception.</exception>
    public EventOutcome ThrowIfFailed()
    {
        List<Exception>? errors = null;
        foreach (var handler in Handlers)
        {
            if (handler.Exception is { } ex && handler.Status is HandlerStatus.Failed or HandlerStatus.TimedOut)
                (errors ??= []).Add(ex);
        }

        if (errors is { Count: 1 })
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(errors[0]);
        if (errors is not null)
            throw new AggregateException($"{errors.Count} handlers of event '{Context.Name}' ({Context.EventId}) failed.", errors);
        if (Status is EventStatus.Cancelled or EventStatus.Dropped or EventStatus.Rejected or EventStatus.TimedOut)
            throw new OperationCanceledException($"Event '{Context.Name}' ({Context.EventId}) ended as {Status}.");
        return this;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Context.Name} {Context.EventId}: {Status}";
}
