using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>
/// The synchronization context of a synchronous <c>SendAsync</c> handler window on a caller's frame. A handler that awaits posts its
/// continuation here, on the thread running the window, so its event is known exactly then; the continuation runs where the
/// caller's own context (or the thread pool) would have run it and, until that event ends, sees it
/// (<see cref="AmbientFrame.Visible(int, out EventContext?, out Subscription?)"/>). Work a handler (this one or an earlier event's) left running without awaiting is
/// posted nowhere, so it still sees the caller's state, as before.
/// </summary>
internal sealed class InlineResumeContext(AmbientFrame frame, SynchronizationContext? inner) : SynchronizationContext
{
    [ThreadStatic]
    private static Continuation? t_resumed;

    public static Continuation? Resumed => t_resumed;

    public AmbientFrame Frame => frame;

    public SynchronizationContext? Inner => inner;

    public override void Post(SendOrPostCallback d, object? state)
    {
        Continuation? continuation = null;
        if (frame.SyncThread == Environment.CurrentManagedThreadId && (frame.SyncContext ?? (frame.DeferredEvent is null ? null : frame.CreateDeferredContext())) is { } context)
        {
            // The continuation may hold the context after the event ends: like a context installed as a frame, it is not reused
            // (a later send renting it would be taken for this one). A context-free send creates its deferred context here, as on
            // any other first look from its thread.
            context.MarkAmbient();
            continuation = new Continuation(this, context, frame.SyncSubscription, d, state);
        }
        else if (t_resumed is { } resumed && resumed.Hook.Frame == frame)
            continuation = new Continuation(this, resumed.Context, resumed.Subscription, d, state); // awaiting again, still standing in

        if (continuation is null)
        {
            if (inner is not null)
                inner.Post(d, state);
            else
                ThreadPool.UnsafeQueueUserWorkItem(static s => s.d(s.state), (d, state), preferLocal: false);
        }
        else if (inner is not null)
        {
            inner.Post(static s => ((Continuation)s!).Execute(), continuation);
        }
        else
        {
            ThreadPool.UnsafeQueueUserWorkItem(continuation, preferLocal: false);
        }
    }

    public override void Send(SendOrPostCallback d, object? state)
    {
        if (inner is not null)
            inner.Send(d, state);
        else
            d(state);
    }

    public override void OperationStarted() => inner?.OperationStarted();

    public override void OperationCompleted() => inner?.OperationCompleted();

    public override SynchronizationContext CreateCopy() => this;

    internal sealed class Continuation(InlineResumeContext hook, EventContext context, Subscription? subscription, SendOrPostCallback d, object? state) : IThreadPoolWorkItem
    {
        public InlineResumeContext Hook => hook;
        public EventContext Context => context;
        public Subscription? Subscription => subscription;

        public void Execute()
        {
            var previous = t_resumed;
            var previousContext = Current;
            t_resumed = this;
            // Awaits in the continuation come back here too, so they stand in for the event as long as needed.
            SetSynchronizationContext(hook);
            try
            {
                d(state);
            }
            finally
            {
                SetSynchronizationContext(previousContext);
                t_resumed = previous;
            }
        }
    }
}
