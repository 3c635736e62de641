using Busbar.Transport;

namespace Busbar.Nats;

/// <summary>The NATS JetStream transport: an <see cref="IEventTransport"/> with a health status.</summary>
public interface INatsTransport : IEventTransport
{
    /// <summary>The current health: connection, alarms and counters.</summary>
    NatsTransportStatus Status { get; }
}
