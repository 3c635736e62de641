namespace Busbar.Dispatch;

/// <summary>
/// What inline sends keep per thread (see <see cref="InlineContexts.Current"/>): the thread's managed id, which the ambient frame
/// compares, and the context the last send returned. One object so that a send reads one thread-static, not one per datum.
/// </summary>
/// <param name="id">The owning thread's managed id.</param>
internal sealed class InlineThread(int id)
{
    private EventContext? _spare;

    /// <summary>The owning thread's managed id.</summary>
    public int Id { get; } = id;

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

    /// <summary>Keeps <paramref name="context"/> for the next send on this thread, unless a flow may still hold it (see <see cref="EventContext.IsAmbient"/>).</summary>
    /// <param name="context">A context of an inline send that ended.</param>
    public void Return(EventContext context)
    {
        // An await in a handler's synchronous part may have posted a continuation that holds the context (see InlineResumeContext).
        if (!context.IsAmbient)
            _spare = context;
    }
}
