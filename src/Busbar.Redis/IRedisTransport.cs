using Busbar.Transport;

namespace Busbar.Redis;

/// <summary>The Redis Streams transport: an <see cref="IEventTransport"/> with a health status.</summary>
public interface IRedisTransport : IEventTransport
{
    /// <summary>The current health: connection, loss alarms and counters.</summary>
    RedisTransportStatus Status { get; }
}
