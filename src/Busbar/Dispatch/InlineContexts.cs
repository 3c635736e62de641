namespace Busbar.Dispatch;

/// <summary>
/// Contexts for inline dispatch. An inline send that completes synchronously and successfully
/// hands its context back for reuse by the next send on the same thread, which is what makes a
/// warm <c>SendAsync</c> allocate nothing.
/// </summary>
internal static class InlineContexts
{
    [ThreadStatic]
    private static EventContext? t_spare;

    public static EventContext Rent(InProcessEventBus bus, object payload, string name)
    {
        var spare = t_spare;
        if (spare is not null)
        {
            t_spare = null;
            spare.ResetForInline(bus, payload, name);
            return spare;
        }

        return new EventContext(bus, payload, name);
    }

    /// <summary>Keeps <paramref name="context"/> for the next send on this thread, unless a flow may still hold it (see <see cref="EventContext.IsAmbient"/>).</summary>
    /// <param name="context">A context of an inline send that ended.</param>
    public static void Return(EventContext context)
    {
        // An await in a handler's synchronous part may have posted a continuation that holds the context (see InlineResumeContext).
        if (!context.IsAmbient)
            t_spare = context;
    }
}
