namespace Busbar.Dispatch;

/// <summary>
/// Contexts for inline dispatch. An inline send that completes synchronously and successfully
/// hands its context back for reuse by the next send on the same thread, which is what makes a
/// warm <c>SendAsync</c> allocate nothing.
/// </summary>
internal static class InlineContexts
{
    [ThreadStatic]
    private static InlineThread? t_thread;

    /// <summary>The calling thread's inline state: its managed id and spare context, for one thread-static read per send.</summary>
    public static InlineThread Current => t_thread ?? Start();

    public static EventContext Rent(InProcessEventBus bus, object payload, string name) => Current.Rent(bus, payload, name);

    /// <inheritdoc cref="InlineThread.Return"/>
    public static void Return(EventContext context) => Current.Return(context);

    private static InlineThread Start() => t_thread = new InlineThread(Environment.CurrentManagedThreadId);
}
