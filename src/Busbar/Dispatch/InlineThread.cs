namespace Busbar.Dispatch;

/// <summary>
/// What inline sends keep per thread (see <see cref="InlineContexts.Current"/>): the thread's managed id, which the ambient frame
/// compares, the context the last send returned (with its payload and bus, until the next send on the thread), the frame of the
/// last flow that sent and the thread's free resume hooks. One object so that a send reads one thread-static, not one per datum.
/// </summary>
/// <param name="id">The owning thread's managed id.</param>
internal sealed class InlineThread(int id)
{
    private EventContext? _spare;

    /// <summary>
    /// The execution context <see cref="_frame"/> was last acquired in (none when it was suppressed), held weakly: a flow's async-local
    /// values are not kept reachable after its send by the thread that sent.
    /// </summary>
    private readonly WeakReference<ExecutionContext> _flow = new(null!);

    /// <summary>What <see cref="Ambient.Acquire(int)"/> returned in <see cref="_flow"/>, the frame that flow's async-local holds.</summary>
    private AmbientFrame? _frame;

    /// <summary>The resume hook of the thread's next synchronous handler window begun with no synchronization context (see <see cref="EnterSyncWindow"/>).</summary>
    private InlineResumeContext? _hook;

    /// <summary>The resume hook of the thread's next window begun under a synchronization context of the caller's.</summary>
    private InlineResumeContext? _hookUnder;

    /// <summary>The owning thread's managed id.</summary>
    public int Id { get; } = id;

    /// <summary>
    /// <see cref="Ambient.Acquire(int)"/> for a send on the owning thread, without reading the async-local when the flow is the one
    /// of the last send on this thread: an execution context is immutable (writing an async-local makes a new one), so the same
    /// object holds the same frame. That frame is then returned on the same conditions <see cref="Ambient.Acquire(int)"/> checks
    /// (not closed, owned by this thread); any other flow, or a suppressed one, takes <see cref="Ambient.Acquire(int)"/>.
    /// </summary>
    /// <remarks>
    /// The last flow is held weakly (a collected one cannot be the caller's, and a new execution context never takes its place in the
    /// weak reference), so the cache keeps no flow's async-local values reachable; the frame it keeps holds none of them.
    /// </remarks>
    public AmbientFrame AcquireFrame()
    {
        var flow = ExecutionContext.Capture();
        if (flow is not null && _flow.TryGetTarget(out var last) && ReferenceEquals(flow, last) && _frame is { IsClosed: false } cached && cached.OwnerThread == Id)
            return cached;
        return AcquireFrameSlow();
    }

    /// <inheritdoc cref="AcquireFrame"/>
    private AmbientFrame AcquireFrameSlow()
    {
        var frame = Ambient.Acquire(Id);
        // Captured after Acquire, which may have installed the frame (a new execution context).
        _flow.SetTarget(ExecutionContext.Capture()!);
        _frame = frame;
        return frame;
    }

    /// <summary>
    /// Begins a synchronous handler window of <paramref name="context"/> on <paramref name="frame"/>: binds a free resume hook of the
    /// thread (see <see cref="InlineResumeContext"/>) to the event and installs it as the thread's synchronization context. The thread
    /// keeps one free hook for windows begun with no synchronization context, and one for windows begun under a context of the
    /// caller's (a UI thread's, say); a window after one whose handler went asynchronous (which kept its hook), or under a context
    /// other than the kept one, takes a new hook, which the thread then keeps. A window inside another (a nested send) takes a new
    /// hook every time, as its event takes a new context.
    /// </summary>
    /// <returns>The hook, whose <see cref="InlineResumeContext.Leave"/> or <see cref="InlineResumeContext.LeaveGoneAsync"/> ends the window.</returns>
    public InlineResumeContext EnterSyncWindow(EventContext context, AmbientFrame frame)
    {
        // The common case, small enough to inline: no context on the thread, and its hook for none free.
        if (_hook is { IsFree: true } hook && SynchronizationContext.Current is null)
        {
            hook.Bind(context, frame);
            return hook;
        }

        return EnterSyncWindowSlow(context, frame);
    }

    /// <inheritdoc cref="EnterSyncWindow"/>
    private InlineResumeContext EnterSyncWindowSlow(EventContext context, AmbientFrame frame)
    {
        var current = SynchronizationContext.Current;
        InlineResumeContext hook;
        if (current is null)
        {
            hook = _hook is { IsFree: true } free ? free : (_hook = new InlineResumeContext(null, null));
        }
        else if (current is InlineResumeContext outer)
        {
            // Nested: wraps what the outer window wraps, so its continuations run where the caller's would, and puts the outer hook back.
            hook = new InlineResumeContext(outer.Inner, outer);
        }
        else
        {
            hook = _hookUnder is { IsFree: true } kept && ReferenceEquals(kept.Inner, current)
                ? kept
                : (_hookUnder = new InlineResumeContext(current, current));
        }

        hook.Bind(context, frame);
        return hook;
    }

    /// <summary>The spare context reset for this event, or a new one. Only the owning thread calls this.</summary>
    public EventContext Rent(InProcessEventBus bus, object payload, string name)
    {
        var spare = _spare;
        if (spare is not null)
        {
            _spare = null;
            spare.ResetForInline(bus, payload, name);
            return spare;
        }

        return new EventContext(bus, payload, name);
    }

    /// <summary>
    /// Keeps <paramref name="context"/> for the next send on this thread, unless a flow may still hold it (see
    /// <see cref="EventContext.IsAmbient"/>): then its ambient part is closed instead, as the end of the event.
    /// </summary>
    /// <param name="context">A context of an inline send that ended.</param>
    public void Return(EventContext context)
    {
        // A context installed as an ambient frame, or whose handler went asynchronous, may be held by flows and continuations until
        // they end (see InlineResumeContext.LeaveGoneAsync): from now on they must not see the event.
        if (!context.IsAmbient)
            _spare = context;
        else
            context.CloseAmbient();
    }
}
