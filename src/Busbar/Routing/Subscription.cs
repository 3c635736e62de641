using Polly;

namespace Busbar.Routing;

/// <summary>One subscription: its handler, its options compiled for dispatch, and its identity.</summary>
/// <remarks>
/// It holds what it uses, never the bus: the router it leaves when disposed (or consumed by
/// <see cref="SubscriptionOptions.Once"/>) and the retry pipeline built from <see cref="SubscriptionOptions.Retry"/>.
/// </remarks>
internal abstract class Subscription : ISubscription
{
    private readonly Router _router;
    private int _active = 1;

    protected Subscription(Router router, ResiliencePipeline? retryPipeline, string name, Type? eventType, TopicPattern? pattern, SubscriptionOptions options)
    {
        _router = router;
        Name = name;
        EventType = eventType;
        TopicPattern = pattern;
        Options = options;
        Priority = options.Priority;
        Timeout = options.HandlerTimeout;
        Filter = options.Filter;
        Once = options.Once;
        Blocking = options.Blocking;
        HasStableName = options.Name is not null;
        RetryPipeline = retryPipeline;
        IsSimple = RetryPipeline is null && Timeout is null && Filter is null && !Once && !Blocking;
    }

    public string Name { get; }

    public string? Pattern => TopicPattern?.Text;

    public Type? EventType { get; }

    public TopicPattern? TopicPattern { get; }

    public SubscriptionOptions Options { get; }

    public int Priority { get; }

    public TimeSpan? Timeout { get; }

    public Func<object, EventContext, bool>? Filter { get; }

    public bool Once { get; }

    public bool Blocking { get; }

    /// <summary>Named by the user (<see cref="SubscriptionOptions.Name"/>): the write-ahead log tracks it across restarts and re-drives.</summary>
    public bool HasStableName { get; }

    public ResiliencePipeline? RetryPipeline { get; }

    /// <summary>No per-invocation policy: eligible for the synchronous fast path.</summary>
    public bool IsSimple { get; }

    /// <summary>Registration order, set by the router.</summary>
    public long Sequence { get; set; }

    public bool IsActive => Volatile.Read(ref _active) == 1;

    /// <summary>The bus's name table this subscription's name is recorded in, told when the subscription ends so the name is free again.</summary>
    internal Busbar.Dispatch.SubscriptionNames? NameOwner { get; set; }

    public Busbar.Diagnostics.LatencyReservoir Latency { get; } = new();

    /// <summary>Invokes the user handler. Returns the handler's result (or null) without allocating when it completes synchronously.</summary>
    public abstract ValueTask<object?> InvokeAsync(object @event, EventContext context, CancellationToken cancellationToken);

    /// <summary>For <see cref="SubscriptionOptions.Once"/>: true for exactly one caller.</summary>
    public bool TryConsumeOnce()
    {
        if (Interlocked.Exchange(ref _active, 0) == 0)
            return false;
        _router.Remove(this);
        NameOwner?.Released(this);
        return true;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _active, 0) == 1)
        {
            _router.Remove(this);
            NameOwner?.Released(this);
        }
    }

    public override string ToString() => Name;

    /// <summary>Adapts a handler without a result; allocates nothing when it completed synchronously.</summary>
    internal static ValueTask<object?> WithoutResult(ValueTask pending)
    {
        return pending.IsCompletedSuccessfully ? default : AwaitAsync(pending);

        static async ValueTask<object?> AwaitAsync(ValueTask pending)
        {
            await pending.ConfigureAwait(false);
            return null;
        }
    }
}

/// <summary>A subscription by type with a handler that returns nothing.</summary>
internal sealed class TypedSubscription<T>(Router router, ResiliencePipeline? retryPipeline, string name, Func<T, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions options, Delegate? contextFree = null, bool synchronous = false)
    : Subscription(router, retryPipeline, name, typeof(T), null, options)
{
    /// <summary>The user's handler, for the <see cref="InlinePlan{T}"/> that invokes it without this adapter.</summary>
    public Func<T, EventContext, CancellationToken, ValueTask> Handler => handler;

    /// <summary>
    /// The user's handler when it takes no context and <see cref="Handler"/> only calls it: an <see cref="Action{T}"/> or a
    /// <see cref="Func{T, TResult}"/> of <see cref="ValueTask"/>. An <see cref="InlinePlan{T}"/> of such handlers runs them
    /// directly, creating the event's context only if one of them observes it.
    /// </summary>
    public Delegate? ContextFree => contextFree;

    /// <summary>
    /// The user subscribed a synchronous delegate (<see cref="Action{T}"/>, <see cref="Action{T1, T2}"/> with the context): the
    /// handler never goes asynchronous, so an inline send need not watch for its continuations (see <see cref="Dispatch.InlineResumeContext"/>).
    /// </summary>
    public bool Synchronous => synchronous;

    public override ValueTask<object?> InvokeAsync(object @event, EventContext context, CancellationToken cancellationToken)
    {
        return WithoutResult(handler((T)@event, context, cancellationToken));
    }
}

/// <summary>A subscription by type with a handler that returns a result.</summary>
internal sealed class ResultSubscription<T, TResult>(Router router, ResiliencePipeline? retryPipeline, string name, Func<T, EventContext, CancellationToken, ValueTask<TResult>> handler, SubscriptionOptions options)
    : Subscription(router, retryPipeline, name, typeof(T), null, options)
{
    public override ValueTask<object?> InvokeAsync(object @event, EventContext context, CancellationToken cancellationToken)
    {
        var pending = handler((T)@event, context, cancellationToken);
        if (pending.IsCompletedSuccessfully)
            return new ValueTask<object?>(pending.Result);
        return AwaitAsync(pending);

        static async ValueTask<object?> AwaitAsync(ValueTask<TResult> pending) => await pending.ConfigureAwait(false);
    }
}

/// <summary>A subscription by pattern; the handler sees the event as <see cref="object"/>.</summary>
internal sealed class PatternSubscription(Router router, ResiliencePipeline? retryPipeline, string name, TopicPattern pattern, Func<object, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions options)
    : Subscription(router, retryPipeline, name, null, pattern, options)
{
    public override ValueTask<object?> InvokeAsync(object @event, EventContext context, CancellationToken cancellationToken)
    {
        return WithoutResult(handler(@event, context, cancellationToken));
    }
}
