namespace Busbar.Dispatch;

/// <summary>
/// The handler running in the current async flow, for correlation, causation and queue jumps.
/// </summary>
/// <remarks>
/// Writing an <see cref="AsyncLocal{T}"/> allocates a new execution context, so the bus does not
/// write one per event. A flow gets one mutable <see cref="AmbientFrame"/> (once per worker, once
/// per inline-calling thread) and the bus swaps the frame's fields around each handler call, saving
/// and restoring them so nested inline sends and queue jumps see the right parent. A frame is only
/// mutated by the thread that owns it at that moment; a flow on another thread installs its own.
/// Work a handler starts and does not await may outlive the handler; events it publishes after the
/// handler returned are not attributed to that handler.
/// </remarks>
internal static class Ambient
{
    private static readonly AsyncLocal<AmbientFrame?> s_frame = new();

    public static AmbientFrame? Frame => s_frame.Value;

    public static EventContext? CurrentContext => s_frame.Value?.Context;

    /// <summary>Returns a frame the current thread may mutate, installing one in the flow if needed.</summary>
    public static AmbientFrame Acquire()
    {
        var frame = s_frame.Value;
        var thread = Environment.CurrentManagedThreadId;
        if (frame is not null && frame.OwnerThread == thread)
            return frame;
        var parent = frame;
        frame = new AmbientFrame(thread)
        {
            Context = parent?.Context,
            Subscription = parent?.Subscription,
        };
        s_frame.Value = frame;
        return frame;
    }

    /// <summary>Installs a fresh frame in the current flow (for parallel handlers and queue jumps, which run in their own async methods).</summary>
    public static AmbientFrame Install(EventContext? context, SubscriptionEntry? subscription)
    {
        var frame = new AmbientFrame(Environment.CurrentManagedThreadId) { Context = context, Subscription = subscription };
        s_frame.Value = frame;
        return frame;
    }
}

internal sealed class AmbientFrame(int ownerThread)
{
    public int OwnerThread = ownerThread;
    public EventContext? Context;
    public SubscriptionEntry? Subscription;
}
