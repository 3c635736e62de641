using Busbar.Engine;

namespace Busbar;

/// <summary>Middleware: code around every handler invocation; see <see cref="IEventMiddleware"/>.</summary>
public sealed partial class EventBusBuilder
{
    private readonly List<MiddlewarePipeline.Registration> _middlewares = [];

    /// <summary>Adds a middleware that runs around every handler invocation; see <see cref="IEventMiddleware"/>.</summary>
    /// <param name="middleware">The middleware; one instance serves every invocation, concurrently.</param>
    /// <returns>This builder.</returns>
    /// <remarks>
    /// Middlewares run in the order they are added, the first outermost, typed and untyped alike, once per attempt.
    /// None by default: a bus without middleware, and an event no middleware applies to, keep the allocation-free synchronous path.
    /// </remarks>
    public EventBusBuilder Use(IEventMiddleware middleware)
    {
        ArgumentNullException.ThrowIfNull(middleware);
        _middlewares.Add(MiddlewarePipeline.For(middleware));
        return this;
    }

    /// <summary>Adds a middleware that runs around the handler invocations of events assignable to <typeparamref name="T"/>; see <see cref="Use(IEventMiddleware)"/>.</summary>
    /// <typeparam name="T">The event type (a class, a base type or an interface) it applies to.</typeparam>
    /// <param name="middleware">The middleware; one instance serves every invocation, concurrently.</param>
    /// <returns>This builder.</returns>
    public EventBusBuilder Use<T>(IEventMiddleware<T> middleware)
    {
        ArgumentNullException.ThrowIfNull(middleware);
        _middlewares.Add(MiddlewarePipeline.For(middleware));
        return this;
    }

    /// <summary>Adds a middleware written as a delegate, e.g. <c>async (invocation, next) =&gt; { …; await next(invocation); … }</c>; see <see cref="Use(IEventMiddleware)"/>.</summary>
    /// <param name="middleware">Runs around one invocation; calls <c>next(invocation)</c> to run the rest of the pipeline and the handler.</param>
    /// <returns>This builder.</returns>
    public EventBusBuilder Use(Func<HandlerInvocation, HandlerDelegate, ValueTask> middleware)
    {
        ArgumentNullException.ThrowIfNull(middleware);
        _middlewares.Add(MiddlewarePipeline.For(middleware));
        return this;
    }

    /// <summary>Adds a delegate middleware for events assignable to <typeparamref name="T"/>; see <see cref="Use{T}(IEventMiddleware{T})"/>.</summary>
    /// <typeparam name="T">The event type (a class, a base type or an interface) it applies to.</typeparam>
    /// <param name="middleware">Runs around one invocation with the event as <typeparamref name="T"/>; calls <c>next(invocation)</c> to go on.</param>
    /// <returns>This builder.</returns>
    public EventBusBuilder Use<T>(Func<T, HandlerInvocation, HandlerDelegate, ValueTask> middleware)
    {
        ArgumentNullException.ThrowIfNull(middleware);
        _middlewares.Add(MiddlewarePipeline.For(middleware));
        return this;
    }
}
