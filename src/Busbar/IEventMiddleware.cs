namespace Busbar;

/// <summary>
/// Code that runs around every handler invocation of a bus, for cross-cutting work: a unit of work, logging,
/// authorization, metrics per handler. Registered with <see cref="EventBusBuilder.Use(IEventMiddleware)"/> or,
/// through dependency injection, with <c>AddBusbar(…).AddMiddleware&lt;TMiddleware&gt;()</c>.
/// </summary>
/// <remarks>
/// <para>
/// Middlewares run in registration order, the first registered outermost. Each one calls <c>next(invocation)</c>
/// to run the rest of the pipeline and, at its end, the handler. Not calling it skips the handler: its result is
/// <see cref="HandlerStatus.Skipped"/>. An exception thrown by a middleware, or by the handler and let through,
/// is the handler's failure (retried, then dead-lettered, as if the handler had thrown it); a middleware that
/// catches the handler's exception and returns normally makes the invocation succeed.
/// </para>
/// <para>
/// The pipeline runs inside each attempt: after the subscription's filter and <see cref="SubscriptionOptions.Once"/>
/// (a declined event reaches no middleware), inside the handler's timeout (<see cref="HandlerInvocation.CancellationToken"/>
/// is the attempt's token) and once per attempt, so a retry runs every middleware again. For a
/// <see cref="SubscriptionOptions.Blocking"/> subscription the middlewares run on the dispatching flow and only the
/// handler on its dedicated thread.
/// </para>
/// <para>
/// A bus without middleware pays nothing for the feature, and neither do events that no registered middleware
/// applies to (only typed ones for other types). Otherwise every invocation allocates its <see cref="HandlerInvocation"/>
/// and takes the general dispatch path (no synchronous fast path), so the allocation-free <c>SendAsync</c> allocates.
/// </para>
/// </remarks>
public interface IEventMiddleware
{
    /// <summary>Runs around one handler invocation.</summary>
    /// <param name="invocation">The event, its context, the subscription and the attempt's token.</param>
    /// <param name="next">Runs the rest of the pipeline and the handler; not calling it skips the handler.</param>
    /// <returns>A task that completes when the middleware is done.</returns>
    ValueTask InvokeAsync(HandlerInvocation invocation, HandlerDelegate next);
}
