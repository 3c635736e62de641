using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>
/// The synchronization context of a synchronous <c>SendAsync</c> handler window: bound to the one event whose handlers run in the
/// window, so a continuation posted here knows its event whichever thread posts it and whenever (an await captures this object,
/// and the work it awaited may complete on another thread while the handler is still in its synchronous part, before the send
/// has seen it go asynchronous). The continuation runs where the caller's own context (or the thread pool) would have run it and,
/// until that event ends, sees it (<see cref="AmbientFrame.Visible(int, out EventContext?, out Subscription?)"/>).
/// </summary>
/// <remarks>
/// <para>
/// A hook is bound for one window at a time (<see cref="Bind"/>): when the window ends with its event done (<see cref="Leave"/>)
/// the hook is free again, and each thread keeps one free hook for its next window (see <see cref="InlineThread.EnterSyncWindow"/>),
/// so a send whose handlers complete synchronously allocates nothing. When a handler of the event goes asynchronous (or fails)
/// the hook stays bound to that event for good (<see cref="LeaveGoneAsync"/>): its continuations, and those they post in turn,
/// know the event until it ends, and the thread makes a new hook for its next window. Each binding has its own number
/// (<see cref="_window"/>, odd while bound), which a continuation keeps: a continuation of a window that ended, or of an
/// earlier binding of a reused hook, names no event.
/// </para>
/// <para>
/// What is not exact: work a handler left running without awaiting it (<c>_ = WorkAsync()</c>) whose event then ended
/// synchronously, and whose await completes while the same hook is bound again for a later send on that thread, is posted as
/// that later send's (the hook is reused, and nothing tells the two apart at the post).
/// </para>
/// </remarks>
/// <param name="inner">The synchronization context the window wraps: the caller's own, or <see langword="null"/> for the thread pool.</param>
/// <param name="restore">
/// The thread's synchronization context when its windows begin, put back when they end: <paramref name="inner"/> for a window of a
/// send made outside any window, the enclosing window's hook for a nested send's.
/// </param>
internal sealed class InlineResumeContext(SynchronizationContext? inner, SynchronizationContext? restore) : SynchronizationContext
{
    [ThreadStatic]
    private static Continuation? t_resumed;

    /// <summary>The event of the current binding; kept after the binding ends so that rebinding to the same context writes nothing.</summary>
    private EventContext? _context;

    /// <summary>The caller's frame the window runs on.</summary>
    private AmbientFrame? _frame;

    /// <summary>The handler that went asynchronous, once <see cref="LeaveGoneAsync"/> has bound the hook for good.</summary>
    private volatile Subscription? _goneAsync;

    /// <summary>The number of the binding: odd while the hook is bound to an event, even while it is free.</summary>
    private int _window;

    /// <summary>The continuation running on this thread, if one of a bound hook is.</summary>
    public static Continuation? Resumed => t_resumed;

    public SynchronizationContext? Inner => inner;

    /// <summary>Not bound to an event: a thread may bind it for its next window.</summary>
    public bool IsFree => (_window & 1) == 0;

    /// <summary>What <see cref="Leave"/> and <see cref="LeaveGoneAsync"/> put back as the thread's synchronization context.</summary>
    public SynchronizationContext? Restore => restore;

    /// <summary>
    /// Binds the hook to <paramref name="context"/> and installs it as the thread's synchronization context for a window; the thread's
    /// synchronization context is <see cref="Restore"/> (see <see cref="InlineThread.EnterSyncWindow"/>).
    /// </summary>
    /// <param name="context">The event whose handlers the window runs.</param>
    /// <param name="frame">The caller's frame the window runs on.</param>
    public void Bind(EventContext context, AmbientFrame frame)
    {
        // Only what changed is written: a loop of sends binds the thread's spare context on one frame each time.
        if (!ReferenceEquals(_context, context))
            _context = context;
        if (!ReferenceEquals(_frame, frame))
            _frame = frame;
        // Published after the binding it numbers: a post that reads an odd number reads this binding's event.
        Volatile.Write(ref _window, _window + 1);
        SetSynchronizationContext(this);
    }

    /// <summary>Ends the window of an event whose handlers in it all completed: the hook is free again, its continuations name no event.</summary>
    public void Leave()
    {
        SetSynchronizationContext(restore);
        Volatile.Write(ref _window, _window + 1);
    }

    /// <summary>
    /// Ends the window of an event whose handler went asynchronous or failed: the hook stays bound to the event for good, and the event's
    /// context is never reused (a continuation may hold it until the event ends, see <see cref="EventContext.IsAmbient"/>).
    /// </summary>
    /// <param name="subscription">The handler that went asynchronous, which its continuations see as running.</param>
    public void LeaveGoneAsync(Subscription? subscription)
    {
        SetSynchronizationContext(restore);
        _goneAsync = subscription;
        _context!.MarkAmbient();
    }

    public override void Post(SendOrPostCallback d, object? state)
    {
        var window = Volatile.Read(ref _window);
        if ((window & 1) == 0)
        {
            // Free: work left running by an event that ended. It sees the caller's state, as any other leftover does.
            if (inner is not null)
                inner.Post(d, state);
            else
                ThreadPool.UnsafeQueueUserWorkItem(static s => s.d(s.state), (d, state), preferLocal: false);
            return;
        }

        var context = _context!;
        var frame = _frame!;
        Subscription? subscription;
        if (t_resumed is { } resumed && ReferenceEquals(resumed.Hook, this))
            subscription = resumed.Subscription; // awaiting again in a continuation: the same handler
        else if (ReferenceEquals(frame.SyncContext, context))
            subscription = frame.SyncSubscription; // still in the window: exact on its own thread, the frame's latest on another
        else
            subscription = _goneAsync;
        var continuation = new Continuation(this, window, context, frame, subscription, d, state);
        if (inner is not null)
            inner.Post(static s => ((Continuation)s!).Execute(), continuation);
        else
            ThreadPool.UnsafeQueueUserWorkItem(continuation, preferLocal: false);
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

    /// <summary>A continuation posted to a bound hook: it knows the binding it was posted in, and sees its event while that lasts.</summary>
    internal sealed class Continuation(InlineResumeContext hook, int window, EventContext context, AmbientFrame frame, Subscription? subscription, SendOrPostCallback d, object? state) : IThreadPoolWorkItem
    {
        public InlineResumeContext Hook => hook;

        public EventContext Context => context;

        /// <summary>The caller's frame of the window: only flows holding it see the event this way.</summary>
        public AmbientFrame Frame => frame;

        /// <summary>The handler the continuation belongs to: the one running when it was posted, else the one that went asynchronous.</summary>
        public Subscription? Subscription => subscription ?? hook._goneAsync;

        /// <summary>The binding it was posted in still holds (the hook was not freed since) and the event has not ended.</summary>
        public bool IsLive => Volatile.Read(ref hook._window) == window && !context.IsAmbientClosed;

        public void Execute()
        {
            if (!IsLive)
            {
                // The window ended with its event, or the event has ended since: the continuation belongs to no event.
                d(state);
                return;
            }

            var previous = t_resumed;
            var previousContext = Current;
            t_resumed = this;
            // Awaits in the continuation come back to the hook, so they stand in for the event as long as needed.
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
