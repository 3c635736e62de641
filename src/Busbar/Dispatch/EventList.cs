using System.Diagnostics;

namespace Busbar.Dispatch;

/// <summary>
/// An intrusive doubly linked list of queued events: the links live on <see cref="EventContext"/>, so
/// adding costs no allocation and removing an event from the middle (a queue jump, an eviction) costs O(1).
/// </summary>
/// <remarks>
/// An event is in at most two lists at once: one <see cref="EventListKind.Age"/> list (every queued event of a
/// priority, in admission order, for <c>DropOldest</c> and stop) and one <see cref="EventListKind.Take"/> list
/// (the order workers take events in, or the line of events behind a busy ordering key). Only
/// <see cref="EventQueue"/> touches them, under its lock.
/// </remarks>
[DebuggerDisplay("{Kind} list, Count = {Count}")]
internal sealed class EventList(EventListKind kind, string? key = null)
{
    public EventListKind Kind { get; } = kind;

    /// <summary>The ordering key whose line this is; <see langword="null"/> for the lists of a priority level.</summary>
    public string? Key { get; } = key;

    public EventContext? First { get; private set; }

    public int Count { get; private set; }

    private EventContext? _last;

    public void AddLast(EventContext context)
    {
        ref var links = ref LinksOf(context);
        Debug.Assert(links.Previous is null && links.Next is null && !(Kind == EventListKind.Age ? context.InQueue : context.InKeyLine && Key is not null), "An event is in one list of each kind at most.");
        MarkMember(context, true);
        links.Previous = _last;
        links.Next = null;
        if (_last is null)
            First = context;
        else
            LinksOf(_last).Next = context;
        _last = context;
        Count++;
    }

    public void Remove(EventContext context)
    {
        ref var links = ref LinksOf(context);
        Debug.Assert(links.Previous is not null || First == context, "Removed from a list it is not in.");
        if (links.Previous is { } previous)
            LinksOf(previous).Next = links.Next;
        else
            First = links.Next;
        if (links.Next is { } next)
            LinksOf(next).Previous = links.Previous;
        else
            _last = links.Previous;
        links = default;
        MarkMember(context, false);
        Count--;
    }

    /// <summary>The links hold no list reference (8 bytes an event, twice): the flags say where a queued event is, its priority which level's lists.</summary>
    private void MarkMember(EventContext context, bool member)
    {
        if (Kind == EventListKind.Age)
            context.InQueue = member;
        else if (Key is not null)
            context.InKeyLine = member;
    }

    private ref EventLinks LinksOf(EventContext context) =>
        ref Kind == EventListKind.Age ? ref context.AgeLinks : ref context.TakeLinks;
}

internal enum EventListKind
{
    /// <summary>The order events are taken in: a priority level's ready events, or an ordering key's line.</summary>
    Take,

    /// <summary>Every queued event of one priority, oldest first.</summary>
    Age,
}

/// <summary>An event's place in one <see cref="EventList"/>; which list, <see cref="EventContext.InQueue"/>, <see cref="EventContext.InKeyLine"/> and its priority say.</summary>
internal struct EventLinks
{
    public EventContext? Previous;
    public EventContext? Next;
}
