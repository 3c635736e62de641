using Busbar.Routing;
using Polly;

namespace Busbar.Dispatch;

/// <summary>Subscribing: subscriptions added to the router.</summary>
internal sealed partial class InProcessEventBus
{
    public ISubscription Subscribe<T>(Func<T, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        options = PrepareSubscription(options);
        var subscription = new TypedSubscription<T>(Router, RetryPipelineOf(options), options.Name ?? DefaultName(typeof(T).Name), handler, options);
        Router.Add(subscription);
        Recover(subscription);
        _link?.SubscriptionsChanged();
        return subscription;
    }

    public ISubscription Subscribe<T, TResult>(Func<T, EventContext, CancellationToken, ValueTask<TResult>> handler, SubscriptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        options = PrepareSubscription(options);
        var subscription = new ResultSubscription<T, TResult>(Router, RetryPipelineOf(options), options.Name ?? DefaultName(typeof(T).Name), handler, options);
        Router.Add(subscription);
        Recover(subscription);
        _link?.SubscriptionsChanged();
        return subscription;
    }

    public ISubscription Subscribe(string pattern, Func<object, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var compiled = TopicPattern.Parse(pattern);
        options = PrepareSubscription(options);
        var subscription = new PatternSubscription(Router, RetryPipelineOf(options), options.Name ?? DefaultName(pattern), compiled, handler, options);
        Router.Add(subscription);
        Recover(subscription);
        _link?.SubscriptionsChanged();
        return subscription;
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

    private static int s_subscriptionCounter;

    private static string DefaultName(string what) => $"{what}#{Interlocked.Increment(ref s_subscriptionCounter)}";

    private ResiliencePipeline? RetryPipelineOf(SubscriptionOptions options) =>
        options.Retry is { MaxAttempts: > 1 } retry ? RetryPipelines.Create(retry, Metrics, EventLogger, TimeProvider) : null;
}
