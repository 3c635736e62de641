namespace Busbar.Dispatch;

/// <summary>
/// What inline sends keep per thread (see <see cref="InlineContexts.Current"/>): the thread's managed id, which the ambient frame
/// compares, and the context the last send returned. One object so that a send reads one thread-static, not one per datum.
/// </summary>
/// <param name="id">The owning thread's managed id.</param>
internal sealed class InlineThread(int id)
{
    private EventContext? _spare;

    /// <summary>The execution context <see cref="_frame"/> was last acquired in; <see langword="null"/> when it was suppressed.</summary>
    private ExecutionContext? _flow;

    /// <summary>What <see cref="Ambient.Acquire(int)"/> returned in <see cref="_flow"/>, the frame that flow's async-local holds.</summary>
    private AmbientFrame? _frame;

    /// <summary>The resume hook of the thread's next synchronous handler window (see <see cref="EnterSyncWindow"/>).</summary>
    private InlineResumeContext? _hook;

    /// <summary>The owning thread's managed id.</summary>
    public int Id { get; } = id;

    /// <summary>
    /// <see cref="Ambient.Acquire(int)"/> for a send on the owning thread, without reading the async-local when the flow is the one
    /// of the last send on this thread: an execution context is immutable (writing an async-local makes a new one), so the same
    /// object holds the same frame. That frame is then returned on the same conditions <see cref="Ambient.Acquire(int)"/> checks
    /// (not closed, owned by this thread); any other flow, or a suppressed one, takes <see cref="Ambient.Acquire(int)"/>.
    /// </summary>
    /// <remarks>
    /// Holding the last flow keeps its async-local values reachable until the next send on this thread, as <see cref="_spare"/>
    /// keeps the last event's payload.
    /// </remarks>
    public AmbientFrame AcquireFrame()
    {
        var flow = ExecutionContext.Capture();
        if (flow is not null && ReferenceEquals(flow, _flow) && _frame is { IsClosed: false } cached && cached.OwnerThread == Id)
            return cached;
        return AcquireFrameSlow();
    }

    /// <inheritdoc cref="AcquireFrame"/>
    private AmbientFrame AcquireFrameSlow()
    {
        var frame = Ambient.Acquire(Id);
        // Captured after Acquire, which may have installed the frame (a new execution context).
        _flow = ExecutionContext.Capture();
        _frame = frame;
        return frame;
    }

    /// <summary>
    /// Begins a synchronous handler window of <paramref name="context"/> on <paramref name="frame"/>: binds the thread's free resume hook
    /// (see <see cref="InlineResumeContext"/>) to the event and installs it as the thread's synchronization context. A window inside
    /// another (a nested send), one on a thread with a synchronization context of its own, or one after a window whose handler went
    /// asynchronous (which kept its hook) takes a new hook, which the thread then keeps.
    /// </summary>
    /// <returns>The hook, whose <see cref="InlineResumeContext.Leave"/> or <see cref="InlineResumeContext.LeaveGoneAsync"/> ends the window.</returns>
    public InlineResumeContext EnterSyncWindow(EventContext context, AmbientFrame frame)
    {
        var current = SynchronizationContext.Current;
        var hook = _hook;
        // The common case, small enough to inline: no context on the thread, and its free hook made for none.
        if (current is null && hook is { IsFree: true, Inner: null })
        {
            hook.Bind(context, frame, null);
            return hook;
        }

        return EnterSyncWindowSlow(context, frame, current);
    }

    /// <inheritdoc cref="EnterSyncWindow"/>
    private InlineResumeContext EnterSyncWindowSlow(EventContext context, AmbientFrame frame, SynchronizationContext? current)
    {
        // A window inside another wraps what the outer one wraps: its continuations run where the caller's would.
        var inner = current is InlineResumeContext outer ? outer.Inner : current;
        var hook = _hook;
        if (hook is null || !hook.IsFree || !ReferenceEquals(hook.Inner, inner))
            _hook = hook = new InlineResumeContext(inner);
        hook.Bind(context, frame, current);
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
