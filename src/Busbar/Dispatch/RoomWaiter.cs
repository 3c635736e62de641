namespace Busbar.Dispatch;

/// <summary>
/// A publish waiting in <see cref="EventQueue"/> for room (<see cref="BusFullMode.Wait"/>). The queue lists it under its lock
/// and, once the lock is released, wakes every listed waiter when a slot frees or the queue closes; the waiter then tries
/// again. Listing and unlisting happen under the queue's lock only; the links are the queue's.
/// </summary>
internal abstract class RoomWaiter
{
    /// <summary>In the queue's list of waiters (set and cleared under the queue's lock).</summary>
    internal bool Listed;

    internal RoomWaiter? Previous;

    internal RoomWaiter? Next;

    /// <summary>Room may have freed, or the queue closed. Called outside the queue's lock; must not run user code inline.</summary>
    public abstract void Wake();

    /// <summary>Wakes a chain the queue took out of its list under its lock (<c>TakeWritersLocked</c>).</summary>
    public static void WakeAll(RoomWaiter? first)
    {
        while (first is not null)
        {
            // Read the link before waking: a woken waiter may list itself again at once, on another thread.
            var next = first.Next;
            first.Next = null;
            first.Previous = null;
            first.Wake();
            first = next;
        }
    }
}
