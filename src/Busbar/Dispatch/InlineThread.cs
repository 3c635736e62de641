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
        // An await in a handler's synchronous part may have posted a continuation that holds the context (see InlineResumeContext),
        // which from now on must not see the event.
        if (!context.IsAmbient)
            _spare = context;
        else
            context.CloseAmbient();
    }
}
