namespace Busbar;

/// <summary>
/// Middleware for the events assignable to <typeparamref name="T"/> only (a class, a base type or an interface):
/// for other events it is passed over as if it were not registered. Otherwise as <see cref="IEventMiddleware"/>.
/// </summary>
/// <typeparam name="T">The event type it applies to.</typeparam>
public interface IEventMiddleware<in T>
{
    /// <summary>Runs around one handler invocation of an event assignable to <typeparamref name="T"/>.</summary>
    /// <param name="event">The event.</param>
    /// <param name="invocation">Its context, the subscription and the attempt's token.</param>
    /// <param name="next">Runs the rest of the pipeline and the handler; not calling it skips the handler.</param>
    /// <returns>A task that completes when the middleware is done.</returns>
    ValueTask InvokeAsync(T @event, HandlerInvocation invocation, HandlerDelegate next);
}
