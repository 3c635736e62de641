using System.Diagnostics;

namespace Busbar.Dispatch;

/// <summary>
/// An intrusive doubly linked list of queued events: the links live on <see cref="EventContext"/>, so
/// adding costs no allocation and removing an event from the middle (a queue jump, an eviction) costs O(1).
/// </summary>
/// <remarks>
/// A queued event is in exactly one list: its priority's ready list (the order workers take events in) or the line
/// of events behind its busy ordering key (<see cref="Key"/> set, <see cref="EventContext.InKeyLine"/>). One pair of
/// links per event is all the queue needs (issue 16): the age order that <c>DropOldest</c> evicts by comes from
/// <see cref="EventContext.QueueSequence"/>. Only <see cref="EventQueue"/> touches them, under its lock.
/// </remarks>
[DebuggerDisplay("{Key ?? \"ready\",nq} list, Count = {Count}")]
internal sealed class EventList(string? key = null)
{
    /// <summary>The ordering key whose line this is; <see langword="null"/> for the ready list of a priority level.</summary>
    public string? Key { get; } = key;

    public EventContext? First { get; private set; }

    public EventContext? Last { get; private set; }

    public int Count { get; private set; }

    public void AddLast(EventContext context)
    {
        ref var links = ref context.QueueLinks;
        Debug.Assert(links.Previous is null && links.Next is null && First != context, "A queued event is in one list.");
        links.Previous = Last;
        links.Next = null;
        if (Last is null)
            First = context;
        else
            Last.QueueLinks.Next = context;
        Last = context;
        Count++;
        context.InKeyLine = Key is not null;
    }

    /// <summary>Inserts <paramref name="context"/> before the first event admitted after it, so the list stays in admission order.</summary>
    /// <remarks>Walks from the end: the event is usually among the newest.</remarks>
    public void InsertByAge(EventContext context)
    {
        var after = Last;
        while (after is not null && EventQueue.IsOlder(context, after))
            after = after.QueueLinks.Previous;
        if (after is null)
        {
            ref var links = ref context.QueueLinks;
            links.Previous = null;
            links.Next = First;
            if (First is null)
                Last = context;
            else
                First.QueueLinks.Previous = context;
            First = context;
            Count++;
            context.InKeyLine = Key is not null;
            return;
        }

        if (after == Last)
        {
            AddLast(context);
            return;
        }

        ref var inserted = ref context.QueueLinks;
        var next = after.QueueLinks.Next!;
        inserted.Previous = after;
        inserted.Next = next;
        after.QueueLinks.Next = context;
        next.QueueLinks.Previous = context;
        Count++;
        context.InKeyLine = Key is not null;
    }

    public void Remove(EventContext context)
    {
        ref var links = ref context.QueueLinks;
        Debug.Assert(links.Previous is not null || First == context, "Removed from a list it is not in.");
        if (links.Previous is { } previous)
            previous.QueueLinks.Next = links.Next;
        else
            First = links.Next;
        if (links.Next is { } next)
            next.QueueLinks.Previous = links.Previous;
        else
            Last = links.Previous;
        links = default;
        context.InKeyLine = false;
        Count--;
    }
}

/// <summary>An event's place in its <see cref="EventList"/>; which list, <see cref="EventContext.InKeyLine"/> and its priority say.</summary>
internal struct EventLinks
{
    public EventContext? Previous;
    public EventContext? Next;
}
