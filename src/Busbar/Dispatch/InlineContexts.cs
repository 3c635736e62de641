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

    public static void Return(EventContext context) => t_spare = context;
}
