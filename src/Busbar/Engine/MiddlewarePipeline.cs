namespace Busbar.Engine;

/// <summary>
/// The middlewares of a bus composed once, when it is built, into one <see cref="HandlerDelegate"/> that ends by
/// calling the handler: running it allocates nothing beyond what the middlewares themselves allocate.
/// </summary>
internal sealed class MiddlewarePipeline
{
    private readonly HandlerDelegate _first;

    private MiddlewarePipeline(HandlerDelegate first, int count)
    {
        _first = first;
        Count = count;
    }

    /// <summary>How many middlewares it holds.</summary>
    public int Count { get; }

    /// <summary>Composes <paramref name="components"/>, the first outermost; <see langword="null"/> when there are none, so the bus keeps its fast path.</summary>
    public static MiddlewarePipeline? Build(IReadOnlyList<Func<HandlerDelegate, HandlerDelegate>> components)
    {
        if (components.Count == 0)
            return null;
        var next = HandlerInvocation.CallHandler;
        for (var i = components.Count - 1; i >= 0; i--)
            next = components[i](next);
        return new MiddlewarePipeline(next, components.Count);
    }

    /// <summary>Runs the middlewares and, unless one of them skips it, the handler.</summary>
    public ValueTask InvokeAsync(HandlerInvocation invocation) => _first(invocation);

    public static Func<HandlerDelegate, HandlerDelegate> For(IEventMiddleware middleware) =>
        next => invocation => middleware.InvokeAsync(invocation, next);

    public static Func<HandlerDelegate, HandlerDelegate> For<T>(IEventMiddleware<T> middleware) =>
        next => invocation => invocation.Event is T @event ? middleware.InvokeAsync(@event, invocation, next) : next(invocation);

    public static Func<HandlerDelegate, HandlerDelegate> For(Func<HandlerInvocation, HandlerDelegate, ValueTask> middleware) =>
        next => invocation => middleware(invocation, next);

    public static Func<HandlerDelegate, HandlerDelegate> For<T>(Func<T, HandlerInvocation, HandlerDelegate, ValueTask> middleware) =>
        next => invocation => invocation.Event is T @event ? middleware(@event, invocation, next) : next(invocation);
}
