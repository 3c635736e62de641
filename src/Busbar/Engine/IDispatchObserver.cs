using Busbar.Routing;

namespace Busbar.Engine;

/// <summary>
/// What <see cref="EventDispatcher"/> reports while it runs handlers: telemetry only (metrics, logs). It decides
/// nothing about the event; ending it (counters, dead letters, the log, a broker ack) is the settler's job.
/// </summary>
internal interface IDispatchObserver
{
    /// <summary>A handler invocation succeeded after <paramref name="elapsed"/> (all attempts).</summary>
    void HandlerSucceeded(EventContext context, Subscription subscription, TimeSpan elapsed);

    /// <summary>A handler invocation ended without success: failed, timed out, or cancelled.</summary>
    void HandlerFailed(EventContext context, Subscription subscription, HandlerResult result);

    /// <summary>A handler was still running after its token fired and the cancellation grace passed: it is no longer awaited.</summary>
    void HandlerAbandoned(EventContext context, Subscription subscription);

    /// <summary>The dispatcher itself threw (a bug, never a handler's exception); the event ends as failed.</summary>
    void DispatchFaulted(EventContext context, Exception exception);
}
