namespace Busbar;

/// <summary>
/// The event <see cref="IEventBus.WaitForAsync{T}(Func{T, EventContext, bool}?, TimeSpan, WaitOptions?, CancellationToken)"/>
/// found: the event itself, typed, with its envelope and its handle.
/// </summary>
/// <typeparam name="T">The type waited for (<see cref="object"/> for a wait by name pattern).</typeparam>
/// <remarks>
/// A wait returns <c>EventMatch&lt;T&gt;?</c>: <see langword="null"/> on timeout. Read it with a pattern,
/// <c>if (await bus.WaitForAsync&lt;OrderShipped&gt;(timeout) is { } match) Use(match.Event);</c>.
/// </remarks>
public readonly struct EventMatch<T>
{
    internal EventMatch(T @event, EventHandle handle)
    {
        Event = @event;
        Handle = handle;
    }

    /// <summary>The event, as <typeparamref name="T"/>.</summary>
    public T Event { get; }

    /// <summary>The event's handle: await it for the event's outcome.</summary>
    public EventHandle Handle { get; }

    /// <summary>The event's envelope (id, name, correlation, headers); the same as <c>Handle.Context</c>.</summary>
    public EventContext Context => Handle.Context;

    /// <inheritdoc/>
    public override string ToString() => Handle.ToString();
}
