using Busbar.Transport;

namespace Busbar;

/// <summary>The broker delivery an event came from, kept beside its dispatch state.</summary>
public sealed partial class EventContext
{
    /// <summary>The delivery the transport source built this context from; null for events a local source dispatches.</summary>
    /// <remarks>Kept in the context's extras: only broker deliveries have one, and a queued event should not pay for the field.</remarks>
    internal ITransportDelivery? Delivery
    {
        get => ExtrasOrNull?.Delivery;
        set
        {
            if (value is not null || ExtrasOrNull is not null)
                GetExtras().Delivery = value;
        }
    }
}
