using Busbar.Routing;
using Polly;

namespace Busbar.Dispatch;

/// <summary>Subscribing: subscriptions added to the router.</summary>
internal sealed partial class InProcessEventBus
{
    public ISubscription Subscribe<T>(Func<T, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options = null) =>
        Subscribe(handler, options, handler);

    /// <summary>Subscribes <paramref name="handler"/>, naming it after <paramref name="origin"/> (the user's handler an extension method wrapped) when options give no name.</summary>
    /// <param name="handler">The handler the engine invokes.</param>
    /// <param name="options">Subscription options.</param>
    /// <param name="origin">The user's handler.</param>
    /// <param name="contextFree">
    /// The user's handler when it takes no context (an <see cref="Action{T}"/> or a <see cref="Func{T, TResult}"/> of
    /// <see cref="ValueTask"/>) and <paramref name="handler"/> only calls it: an inline send may call it directly (see <see cref="InlinePlan{T}.ContextFree"/>).
    /// </param>
    internal ISubscription Subscribe<T>(Func<T, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options, object origin, Delegate? contextFree = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        options = PrepareSubscription(options);
        return Add(options, origin, typeof(T), typeof(T).Name, name => new TypedSubscription<T>(Router, RetryPipelineOf(options), name, handler, options, contextFree, origin is Action<T> or Action<T, EventContext>));
    }

    public ISubscription Subscribe<T, TResult>(Func<T, EventContext, CancellationToken, ValueTask<TResult>> handler, SubscriptionOptions? options = null) =>
        Subscribe(handler, options, handler);

    /// <summary>Subscribes a handler with a result; see <see cref="Subscribe{T}(Func{T, EventContext, CancellationToken, ValueTask}, SubscriptionOptions?, object, Delegate?)"/>.</summary>
    internal ISubscription Subscribe<T, TResult>(Func<T, EventContext, CancellationToken, ValueTask<TResult>> handler, SubscriptionOptions? options, object origin)
    {
        ArgumentNullException.ThrowIfNull(handler);
        options = PrepareSubscription(options);
        return Add(options, origin, typeof(T), typeof(T).Name, name => new ResultSubscription<T, TResult>(Router, RetryPipelineOf(options), name, handler, options));
    }

    public ISubscription Subscribe(string pattern, Func<object, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options = null) =>
        Subscribe(pattern, handler, options, handler);

    /// <summary>Subscribes a pattern handler; see <see cref="Subscribe{T}(Func{T, EventContext, CancellationToken, ValueTask}, SubscriptionOptions?, object, Delegate?)"/>.</summary>
    internal ISubscription Subscribe(string pattern, Func<object, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options, object origin)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var compiled = TopicPattern.Parse(pattern);
        options = PrepareSubscription(options);
        return Add(options, origin, null, pattern, name => new PatternSubscription(Router, RetryPipelineOf(options), name, compiled, handler, options));
    }

    /// <summary>Names the new entry (explicit, or a stable default), refuses a duplicate explicit name, and registers it.</summary>
    private Subscription Add(SubscriptionOptions options, object origin, Type? eventType, string fallbackName, Func<string, Subscription> create)
    {
        var reserved = options.Name is null;
        var name = options.Name ?? _names.ReserveDefault(origin, eventType, fallbackName);
        Subscription entry;
        try
        {
            entry = create(name);
        }
        catch
        {
            if (reserved)
                _names.Release(name);
            throw;
        }

        _names.Claim(entry, reserved, Name);
        Router.Add(entry);
        Recover(entry);
        _link?.SubscriptionsChanged();
        return entry;
    }

    private SubscriptionOptions PrepareSubscription(SubscriptionOptions? options)
    {
        if (_inFlight.IsStopping)
            throw new BusStoppedException($"Bus '{Name}' is stopped; subscriptions are no longer accepted.");
        options ??= s_defaultSubscription;
        options.Validate();
        if (_log is not null && options.Name is null)
            throw new ArgumentException($"Bus '{Name}' has a write-ahead log, so every subscription needs SubscriptionOptions.Name: recovery finds pending events by subscription name after a restart.", nameof(options));
        return options;
    }

    private static readonly SubscriptionOptions s_defaultSubscription = new();

    private readonly SubscriptionNames _names = new();

    /// <summary>The names of this bus's subscriptions (tests read its probe count).</summary>
    internal SubscriptionNames Names => _names;

    private ResiliencePipeline? RetryPipelineOf(SubscriptionOptions options) =>
        options.Retry is { MaxAttempts: > 1 } retry ? RetryPipelines.Create(retry, Metrics, EventLogger, TimeProvider) : null;
}
