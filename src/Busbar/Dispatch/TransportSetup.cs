using Busbar.Routing;
using Busbar.Transport;

namespace Busbar.Dispatch;

/// <summary>What <see cref="EventBusBuilder.UseTransport(IEventTransport, EventTypeRegistry, TransportBusOptions?)"/> said; the bus builds its <see cref="TransportLink"/> from it.</summary>
/// <param name="Connect">Connects (or hands over) the transport.</param>
/// <param name="Events">The types that travel.</param>
/// <param name="Options">Group, redelivery, lease extension.</param>
/// <param name="OwnsTransport">The bus disposes the transport when it is disposed.</param>
/// <param name="LocalEvents">Names and patterns of the events kept in the process (read when the bus is built).</param>
internal sealed record TransportSetup(
    Func<TransportConnectArguments, CancellationToken, ValueTask<IEventTransport>> Connect,
    EventTypeRegistry Events,
    TransportBusOptions Options,
    bool OwnsTransport,
    IReadOnlyList<TopicPattern> LocalEvents);
