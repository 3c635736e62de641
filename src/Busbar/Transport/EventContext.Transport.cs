using Busbar.Transport;

namespace Busbar;

/// <summary>The broker delivery an event came from, kept beside its dispatch state.</summary>
public sealed partial class EventContext
{
    /// <summary>The delivery the transport source built this context from; null for events a local source dispatches.</summary>
    /// <remarks>
    /// Only broker deliveries have one, and a queued event should not pay for the field: a consumed event with nothing else
    /// rare keeps it in the side slot itself (no extras object per delivery), one with headers or a lineage in its extras.
    /// </remarks>
    internal ITransportDelivery? Delivery
    {
        get => Volatile.Read(ref _side) switch
        {
            ITransportDelivery delivery => delivery,
            Extras extras => extras.Delivery,
            _ => null,
        };
        set
        {
            if (value is not null && Interlocked.CompareExchange(ref _side, value, null) is null)
                return;
            if (value is not null || ExtrasOrNull is not null)
                GetExtras().Delivery = value;
        }
    }
}
