using System.Diagnostics;

namespace Busbar;

/// <summary>One attempt of one handler on one event, as a middleware sees it; see <see cref="IEventMiddleware"/>.</summary>
/// <remarks>
/// A new invocation is made for every attempt (a retry gets a new one, with its own <see cref="Context"/> whose
/// <see cref="EventContext.Attempt"/> counts up). Like the context of an inline event, it lives only while the
/// pipeline runs; copy what you need instead of keeping it.
/// </remarks>
[DebuggerDisplay("{Subscription.Name,nq} on {Context.Name,nq}, attempt {Context.Attempt}")]
public sealed class HandlerInvocation
{
    // The invocation whose handler is being called on this thread, for the synchronous start of the handler
    // only: a DI handler class reads it there to join the service scope its middlewares run in. A thread-static
    // rather than an AsyncLocal because it is read before the handler's first await and writing it costs nothing.
    [ThreadStatic]
    private static HandlerInvocation? t_calling;

    private readonly Routing.Subscription _subscription;

    internal HandlerInvocation(Routing.Subscription subscription, EventContext context, CancellationToken cancellationToken)
    {
        _subscription = subscription;
        Context = context;
        CancellationToken = cancellationToken;
    }

    /// <summary>The event.</summary>
    public object Event => Context.Event;

    /// <summary>The event's context, as the handler receives it (for a retry, the context of that attempt).</summary>
    public EventContext Context { get; }

    /// <summary>The subscription whose handler this is.</summary>
    public ISubscription Subscription => _subscription;

    /// <summary>The token the handler receives: cancelled on the handler's timeout, the event deadline, <see cref="CompletionMode.First"/> or bus stop.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>
    /// The value the handler returned (a subscription with a result), once <see cref="HandlerDelegate">next</see> has
    /// completed; <see langword="null"/> before, for handlers without a result, or when the handler was skipped.
    /// </summary>
    public object? Value { get; private set; }

    /// <summary>Whether the end of the pipeline was reached and the handler called; false means a middleware skipped it.</summary>
    internal bool HandlerCalled { get; private set; }

    /// <summary>The service provider of the DI scope a middleware resolved from dependency injection opened for this invocation.</summary>
    internal IServiceProvider? Services { get; set; }

    /// <summary>The invocation whose handler the calling thread is starting, if any; valid before the handler's first await only.</summary>
    internal static HandlerInvocation? Calling => t_calling;

    /// <summary>The end of every pipeline: calls the handler and keeps its value.</summary>
    internal static readonly HandlerDelegate CallHandler = static invocation => invocation.CallHandlerAsync();

    private ValueTask CallHandlerAsync()
    {
        HandlerCalled = true;
        var pending = _subscription.Blocking ? Engine.EventDispatcher.RunBlocking(_subscription, Context, CancellationToken, this) : InvokeHandler();
        if (pending.IsCompletedSuccessfully)
        {
            Value = pending.Result;
            return default;
        }

        return AwaitAsync(pending);
    }

    private async ValueTask AwaitAsync(ValueTask<object?> pending) => Value = await pending.ConfigureAwait(false);

    /// <summary>Calls the handler on the current thread, this invocation visible to <see cref="Calling"/> until it returns or first awaits.</summary>
    internal ValueTask<object?> InvokeHandler()
    {
        var saved = t_calling;
        t_calling = this;
        try
        {
            return _subscription.InvokeAsync(Context.Payload, Context, CancellationToken);
        }
        finally
        {
            t_calling = saved;
        }
    }
}
