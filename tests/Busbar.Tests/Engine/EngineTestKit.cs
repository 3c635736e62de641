using Busbar.Diagnostics;
using Busbar.Dispatch;
using Busbar.Engine;
using Busbar.Routing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Busbar.Tests.Engine;

/// <summary>Builds the engine's parts without a bus: a router, subscriptions, contexts and a dispatcher.</summary>
internal sealed class EngineTestKit : IDisposable
{
    public static readonly string PingName = EventNaming.GetName(typeof(Ping));

    private readonly CancellationTokenSource _stop = new();

    public EngineTestKit(EventBusOptions? options = null)
    {
        Options = options ?? new EventBusOptions();
        Metrics = new BusMetrics($"engine-test-{Guid.NewGuid():N}");
        Log = new EventLogger(NullLogger.Instance, TimeProvider.System);
        Dispatcher = new EventDispatcher(Options, TimeProvider.System, NullLogger.Instance, Observer, _stop.Token);
    }

    public EventBusOptions Options { get; }

    public Router Router { get; } = new();

    public BusMetrics Metrics { get; }

    public EventLogger Log { get; }

    public RecordingObserver Observer { get; } = new();

    public EventDispatcher Dispatcher { get; }

    public Subscription Subscribe(string name, Func<Ping, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options = null)
    {
        options ??= new SubscriptionOptions();
        var pipeline = options.Retry is { MaxAttempts: > 1 } retry ? RetryPipelines.Create(retry, Metrics, Log, TimeProvider.System) : null;
        var subscription = new TypedSubscription<Ping>(Router, pipeline, name, handler, options);
        Router.Add(subscription);
        return subscription;
    }

    public static EventContext Context(int value = 1) => new(new Ping(value), PingName, "engine-test", TimeProvider.System);

    public Route Route() => Router.Resolve<Ping>(PingName);

    public ValueTask<EventStatus> DispatchAsync(EventContext context, CancellationToken token = default) =>
        Dispatcher.DispatchAsync(context, Route(), token, null, recordResults: true);

    public void Stop() => _stop.Cancel();

    public void Dispose()
    {
        Metrics.Dispose();
        _stop.Dispose();
    }
}

/// <summary>An observer that keeps what the dispatcher reported.</summary>
internal sealed class RecordingObserver : IDispatchObserver
{
    private readonly Lock _lock = new();

    public List<string> Succeeded { get; } = [];

    public List<(string Subscription, HandlerStatus Status)> Failed { get; } = [];

    public List<string> Abandoned { get; } = [];

    public void HandlerSucceeded(EventContext context, Subscription subscription, TimeSpan elapsed)
    {
        lock (_lock)
            Succeeded.Add(subscription.Name);
    }

    public void HandlerFailed(EventContext context, Subscription subscription, HandlerResult result)
    {
        lock (_lock)
            Failed.Add((subscription.Name, result.Status));
    }

    public void HandlerAbandoned(EventContext context, Subscription subscription)
    {
        lock (_lock)
            Abandoned.Add(subscription.Name);
    }

    public void DispatchFaulted(EventContext context, Exception exception) =>
        throw new InvalidOperationException("The dispatcher faulted.", exception);
}
