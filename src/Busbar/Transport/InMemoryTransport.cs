namespace Busbar.Transport;

/// <summary>Creates in-memory transports: the broker lives in the process, with the same delivery rules as Redis and NATS.</summary>
/// <remarks>Nothing survives the process. Use it for tests and to develop without a broker.</remarks>
public static class InMemoryTransport
{
    /// <summary>Creates a transport over a new in-memory broker; disposing the transport disposes the broker.</summary>
    /// <param name="options">Lease and maximum deliveries; validated here. Default: <see cref="InMemoryTransportOptions"/> defaults.</param>
    /// <param name="timeProvider">The clock for leases and delayed retries. Default: <see cref="TimeProvider.System"/>.</param>
    public static IEventTransport Create(InMemoryTransportOptions? options = null, TimeProvider? timeProvider = null)
    {
        options ??= new InMemoryTransportOptions();
        options.Validate();
        var broker = new InMemoryBroker(options, timeProvider ?? TimeProvider.System);
        return broker.CreateTransport(ownsBroker: true);
    }
}
