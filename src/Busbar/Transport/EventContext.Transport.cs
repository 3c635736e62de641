using Busbar.Transport;

namespace Busbar;

/// <summary>The broker delivery an event came from, kept beside its dispatch state.</summary>
public sealed partial class EventContext
{
    /// <summary>The delivery the transport source built this context from; null for events a local source dispatches.</summary>
    internal ITransportDelivery? Delivery { get; set; }
}
