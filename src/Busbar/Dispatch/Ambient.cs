using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>
/// The handler running in the current async flow, for correlation, causation, children and the
/// own-handler decisions (queue jump, overflow allowance).
/// </summary>
/// <remarks>
/// <para>
/// A frame is captured by reference by every flow a handler starts (an await, <c>Task.Run</c>, a timer),
/// and such a flow may outlive the handler. So a frame that user code ran under is never pointed at another
/// event afterwards: each event a worker, <c>InvokeAsync</c>, a queue jump or a re-drive handles gets its own
/// frame, and parallel handlers get one each. When the event (or parallel handler) ends its frame is
/// <see cref="AmbientFrame.Close">closed</see>: a flow still holding it then sees no handler, so a publish
/// made after the handler finished is attributed to no event (no causation, its own correlation, not listed
/// as a child, no queue jump, no overflow allowance), never to an event that happens to be running.
/// </para>
/// <para>
/// Writing an <see cref="AsyncLocal{T}"/> allocates a new execution context, so the allocation-free
/// <c>SendAsync</c> does not install a frame per call: it points the caller's frame at the inline event
/// for the synchronous part of each handler, visible only to the thread running it
/// (<see cref="AmbientFrame.SyncThread"/>). A flow on another thread — work a handler left running — sees
/// the caller's own state then. Only when an inline handler goes asynchronous does the caller's frame name
/// the inline event for every flow holding it, until that event ends.
/// </para>
/// </remarks>
internal static class Ambient
{
    private static readonly AsyncLocal<AmbientFrame?> s_frame = new();

    public static AmbientFrame? Frame => s_frame.Value;

    public static EventContext? CurrentContext
    {
        get
        {
            Current(out var context, out _);
            return context;
        }
    }

    /// <summary>The handler visible to the calling thread in its flow, or none.</summary>
    public static void Current(out EventContext? context, out Subscription? subscription)
    {
        if (s_frame.Value is { } frame)
        {
            frame.Visible(out context, out subscription);
            return;
        }

        context = null;
        subscription = null;
    }

    /// <summary>Returns a frame the current thread may mutate, installing one in the flow if needed.</summary>
    public static AmbientFrame Acquire()
    {
        var frame = s_frame.Value;
        var thread = Environment.CurrentManagedThreadId;
        if (frame is not null && frame.OwnerThread == thread && !frame.IsClosed)
            return frame;
        var derived = new AmbientFrame(thread);
        if (frame is not null)
        {
            frame.Visible(out derived.Context, out derived.Subscription);
            derived.Origin = frame.Origin ?? frame;
        }

        s_frame.Value = derived;
        return derived;
    }

    /// <summary>Installs a fresh frame in the current flow: one per event handled, one per parallel handler.</summary>
    public static AmbientFrame Install(EventContext? context, Subscription? subscription)
    {
        var frame = new AmbientFrame(Environment.CurrentManagedThreadId) { Context = context, Subscription = subscription };
        s_frame.Value = frame;
        return frame;
    }
}

/// <summary>The ambient state of one flow; see <see cref="Ambient"/>.</summary>
internal sealed class AmbientFrame(int ownerThread)
{
    /// <summary>The thread allowed to mutate the frame; -1 while an inline handler that went asynchronous holds it.</summary>
    public int OwnerThread = ownerThread;

    /// <summary>The handler this frame names for every flow holding it.</summary>
    public EventContext? Context;
    public Subscription? Subscription;

    /// <summary>The thread running a synchronous <c>SendAsync</c> handler under this frame, or 0.</summary>
    public int SyncThread;
    public EventContext? SyncContext;
    public Subscription? SyncSubscription;

    /// <summary>The frame this one was derived from (by <see cref="Ambient.Acquire"/>); closing it closes this one.</summary>
    public AmbientFrame? Origin;

    private volatile bool _closed;

    /// <summary>The event (or parallel handler) this frame was installed for has ended: flows still holding it see no handler.</summary>
    public void Close() => _closed = true;

    public bool IsClosed => _closed || Origin is { _closed: true };

    public void Visible(out EventContext? context, out Subscription? subscription)
    {
        if (SyncThread != 0 && SyncThread == Environment.CurrentManagedThreadId)
        {
            context = SyncContext;
            subscription = SyncSubscription;
            return;
        }

        if (IsClosed)
        {
            context = null;
            subscription = null;
            return;
        }

        context = Context;
        subscription = Subscription;
    }
}
