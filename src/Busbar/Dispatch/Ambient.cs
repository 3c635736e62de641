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
/// frame (the event's own context serves as its frame, so this costs no object), and in a parallel tier each
/// handler that goes asynchronous keeps the frame it started under, the ones after it starting under a fresh one.
/// When the event (or the parallel handler holding a frame) ends its frame is <see cref="AmbientFrame.Close">closed</see>: a flow still holding it then sees no handler, so a publish
/// made after the handler finished is attributed to no event (no causation, its own correlation, not listed
/// as a child, no queue jump, no overflow allowance), never to an event that happens to be running.
/// </para>
/// <para>
/// Writing an <see cref="AsyncLocal{T}"/> allocates a new execution context, so the allocation-free
/// <c>SendAsync</c> does not install a frame per call: it points the caller's frame at the inline event
/// for the synchronous part of each handler, visible only to the thread running it
/// (<see cref="AmbientFrame.SyncThread"/>). A flow on another thread — work a handler left running — sees
/// the caller's own state then. Only when an inline handler goes asynchronous does the caller's frame name
/// the inline event for every flow holding it, until that event ends. A top-level send whose handlers all take no context
/// does not even create the context: the frame names the send as deferred (<see cref="AmbientFrame.DeferredPlan"/>), and the
/// first look at the frame from the sending thread creates it, so a handler that reads <c>EventContext.Current</c>, sends or
/// publishes sees the event exactly as if it had been created up front.
/// </para>
/// <para>
/// A handler's own continuation may resume on another thread before the send has seen the handler go asynchronous.
/// So during the synchronous part the thread's synchronization context is an <see cref="InlineResumeContext"/> bound to the
/// event (wrapping the caller's; the thread's one free hook, so still no allocation while handlers complete synchronously):
/// an await captures it, so the continuation knows its event whichever thread completes the awaited work and whenever, and
/// sees that event until it ends. A send made by another inline event's handler on the same frame never points the frame at
/// its own event (the enclosing event may go asynchronous and take the frame): its continuations know their event this way
/// only. Work left running without an await (<c>Task.Run</c>, an earlier event's leftovers) is never posted there, so it
/// keeps seeing the caller's state during a later event's synchronous part.
/// </para>
/// </remarks>
internal static class Ambient
{
    // Holds an AmbientFrame (a worker, an inline caller, a parallel handler) or the EventContext of the event
    // running in the flow: an event is its own frame, so handling it costs no frame object.
    private static readonly AsyncLocal<object?> s_frame = new();

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
        switch (s_frame.Value)
        {
            case AmbientFrame frame:
                frame.Visible(out context, out subscription);
                return;
            case EventContext running:
                running.AmbientVisible(out context, out subscription);
                return;
            default:
                context = null;
                subscription = null;
                return;
        }
    }

    /// <summary>Returns a frame the current thread may mutate, installing one in the flow if needed.</summary>
    public static AmbientFrame Acquire() => Acquire(Environment.CurrentManagedThreadId);

    /// <inheritdoc cref="Acquire()"/>
    /// <param name="thread">The calling thread's managed id, which the caller already holds.</param>
    public static AmbientFrame Acquire(int thread)
    {
        var value = s_frame.Value;
        if (value is AmbientFrame { IsClosed: false } own && own.OwnerThread == thread)
            return own;
        var derived = new AmbientFrame(thread);
        // A closed frame names nothing and would close the frame derived from it at once (see IsClosed): derived as from none.
        if (value is AmbientFrame { IsClosed: false } frame)
        {
            frame.Visible(out derived.Context, out derived.Subscription);
            derived.Origin = frame.Origin ?? frame;
            derived.OriginEvent = frame.OriginEvent;
        }
        else if (value is EventContext { IsAmbientClosed: false } running)
        {
            // Context left null: the frame follows the event's running handler (see AmbientFrame.Visible), so a frame
            // derived by one serial handler's SendAsync names the next handler when that one sends too.
            derived.OriginEvent = running;
        }

        s_frame.Value = derived;
        return derived;
    }

    /// <summary>Installs a fresh frame in the current flow: one per worker, one after each parallel handler that went asynchronous.</summary>
    public static AmbientFrame Install(EventContext? context, Subscription? subscription)
    {
        var frame = new AmbientFrame(Environment.CurrentManagedThreadId) { Context = context, Subscription = subscription };
        s_frame.Value = frame;
        return frame;
    }

    /// <summary>
    /// Makes <paramref name="context"/> the frame of the current flow, naming it until <see cref="EventContext.CloseAmbient"/>:
    /// one per event handled (queued, <c>InvokeAsync</c>, a queue jump, a re-drive). An inline context installed so is never reused.
    /// </summary>
    public static void Enter(EventContext context)
    {
        context.MarkAmbient();
        s_frame.Value = context;
    }
}

/// <summary>The ambient state of one flow; see <see cref="Ambient"/>.</summary>
internal sealed class AmbientFrame(int ownerThread)
{
    /// <summary>The thread allowed to mutate the frame; -1 while an inline handler that went asynchronous holds it.</summary>
    public int OwnerThread = ownerThread;

    /// <summary>The handler this frame names for every flow holding it; when null, the running handler of <see cref="OriginEvent"/>, if any.</summary>
    public EventContext? Context;
    public Subscription? Subscription;

    /// <summary>The thread running a synchronous <c>SendAsync</c> handler under this frame, or 0.</summary>
    public int SyncThread;
    public EventContext? SyncContext;
    public Subscription? SyncSubscription;

    /// <summary>
    /// While <see cref="SyncThread"/> runs a context-free plan (<see cref="InlinePlan{T}.ContextFree"/>) whose event has no context
    /// yet (<see cref="SyncContext"/> null): the plan, the event and its bus, and the index of the running handler. The first look
    /// at the frame from that thread (<see cref="Visible(int, out EventContext?, out Subscription?)"/>: <c>EventContext.Current</c>,
    /// a send or publish made by the handler) creates the context, exactly as the send would have created it up front. A class
    /// event is held in <see cref="DeferredEvent"/>; a struct event in <see cref="DeferredValue"/>, unboxed until that first look.
    /// </summary>
    public InlinePlan? DeferredPlan;
    public object? DeferredEvent;
    public DeferredValue? DeferredValue;
    public InProcessEventBus? DeferredBus;
    public int DeferredIndex;

    /// <summary>A context-free send with no context yet runs on this frame (see <see cref="DeferredPlan"/>).</summary>
    public bool HasDeferredEvent => DeferredEvent is not null || DeferredValue is not null;

    /// <summary>The frame this one was derived from (by <see cref="Ambient.Acquire(int)"/>); closing it closes this one.</summary>
    public AmbientFrame? Origin;

    /// <summary>The event whose flow this frame was derived in; its end closes this frame.</summary>
    public EventContext? OriginEvent;

    private volatile bool _closed;

    /// <summary>
    /// Creates the context of the context-free send running on this frame and makes it the frame's synchronous state, as
    /// <c>SendAsync</c> does for a plan with context: the send found no parent, so the context has no correlation or causation to take.
    /// </summary>
    public EventContext CreateDeferredContext()
    {
        var plan = DeferredPlan!;
        var context = InlineContexts.Rent(DeferredBus!, DeferredEvent ?? DeferredValue!.Box(), plan.Name);
        SyncContext = context;
        SyncSubscription = plan.Subscriptions[DeferredIndex];
        return context;
    }

    /// <summary>The event (or parallel handler) this frame was installed for has ended: flows still holding it see no handler.</summary>
    public void Close() => _closed = true;

    public bool IsClosed => _closed || Origin is { _closed: true } || OriginEvent is { IsAmbientClosed: true };

    public void Visible(out EventContext? context, out Subscription? subscription) =>
        Visible(Environment.CurrentManagedThreadId, out context, out subscription);

    /// <summary>
    /// True when the calling thread sees no event in this frame and holds no synchronous state on it (nothing to save and put back):
    /// what <see cref="Visible(int, out EventContext?, out Subscription?)"/> answers with no event, without its out parameters.
    /// </summary>
    /// <param name="thread">The calling thread's managed id.</param>
    public bool NamesNoEvent(int thread)
    {
        if (SyncThread == thread || SyncContext is not null || SyncSubscription is not null)
            return false;
        if (IsClosed)
            return true;
        return Context is null && (OriginEvent is null || OriginEvent.IsAmbientClosed);
    }

    /// <summary>What the calling thread sees in this frame: the event and handler it runs under, or none.</summary>
    /// <param name="thread">The calling thread's managed id, which the caller already holds.</param>
    /// <param name="context">The event, or <see langword="null"/>.</param>
    /// <param name="subscription">Its running handler, or <see langword="null"/>.</param>
    public void Visible(int thread, out EventContext? context, out Subscription? subscription)
    {
        if (SyncThread != 0 && SyncThread == thread)
        {
            if (SyncContext is null && HasDeferredEvent)
                CreateDeferredContext();
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

        // A continuation of an inline handler that awaited under this frame (see InlineResumeContext) sees its event until the
        // event ends: it may resume before the send saw the handler go asynchronous and pointed the frame at the event, and a
        // send nested in another inline event's handler never points the frame at its own (the enclosing event may take the
        // frame, see EventDispatcher.DispatchSerialSync). Work left running by a handler of an event that then ended
        // synchronously sees the caller's state, as any other leftover does: the end of its window freed the hook.
        if (InlineResumeContext.Resumed is { } resumed && resumed.Frame == this && resumed.IsLive)
        {
            context = resumed.Context;
            subscription = resumed.Subscription;
            return;
        }

        if (Context is null && OriginEvent is { } origin)
        {
            origin.AmbientVisible(out context, out subscription);
            return;
        }

        context = Context;
        subscription = Subscription;
    }
}

/// <summary>
/// The struct event of a context-free send (see <see cref="AmbientFrame.DeferredValue"/>), kept unboxed: it is boxed only if a
/// handler looks at the send's context. One per nesting depth per thread and event type, reused, so a send allocates nothing.
/// </summary>
internal abstract class DeferredValue
{
    public abstract object Box();
}

/// <inheritdoc cref="DeferredValue"/>
/// <typeparam name="T">The struct event type.</typeparam>
internal sealed class DeferredValue<T> : DeferredValue
    where T : notnull
{
    /// <summary>The thread's holders of <typeparamref name="T"/>, one per send of it in progress on the thread (sends nest).</summary>
    [ThreadStatic]
    private static Stack? t_stack;

    private T _value = default!;

    public override object Box() => _value;

    /// <summary>Holds <paramref name="value"/> for a send starting on this thread; <see cref="Release"/> it on the same thread when the send ends.</summary>
    public static DeferredValue<T> Hold(T value)
    {
        var stack = t_stack ??= new Stack();
        var holder = stack.Push();
        holder._value = value;
        return holder;
    }

    /// <summary>The send ended: the holder forgets the event and is free for the thread's next send.</summary>
    public void Release()
    {
        _value = default!;
        t_stack!.Pop(this);
    }

    private sealed class Stack
    {
        private DeferredValue<T>[] _items = new DeferredValue<T>[2];
        private int _depth;

        public DeferredValue<T> Push()
        {
            if (_depth == _items.Length)
                Array.Resize(ref _items, _depth * 2);
            var holder = _items[_depth] ??= new DeferredValue<T>();
            _depth++;
            return holder;
        }

        public void Pop(DeferredValue<T> holder)
        {
            System.Diagnostics.Debug.Assert(_depth > 0 && ReferenceEquals(_items[_depth - 1], holder), "Sends on a thread end in the reverse order they began.");
            _depth--;
        }
    }
}
