namespace Busbar.Dispatch;

/// <summary>
/// A bus's <see cref="EventSender{T}"/> seen without its event type: what the bus needs to take its senders out of the static slots
/// <see cref="IEventBus.SendAsync{T}"/> finds them in, once it is disposed.
/// </summary>
internal interface ISenderSlots
{
    /// <summary>Takes the sender out of the slots of its event type, where it would keep its bus reachable.</summary>
    void LeaveSlots();
}
