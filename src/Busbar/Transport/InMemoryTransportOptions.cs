namespace Busbar.Transport;

/// <summary>Options of the in-memory transport (tests, single-process development).</summary>
public sealed record InMemoryTransportOptions
{
    /// <summary>How long a delivery may stay unsettled before it is given to the group again.</summary>
    /// <value>Default 30 seconds. From 10 ms to 1 day.</value>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a message is delivered to a group before it goes to the dead letters instead.</summary>
    /// <value>Default 5. At least 1.</value>
    public int MaxDeliveries { get; init; } = 5;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid option.</summary>
    internal void Validate()
    {
        if (Lease < TimeSpan.FromMilliseconds(10) || Lease > TimeSpan.FromDays(1))
            throw new ArgumentException($"{nameof(InMemoryTransportOptions)}.{nameof(Lease)} must be from 10 ms to 1 day (was {Lease}).", nameof(Lease));
        if (MaxDeliveries < 1)
            throw new ArgumentException($"{nameof(InMemoryTransportOptions)}.{nameof(MaxDeliveries)} must be at least 1 (was {MaxDeliveries}).", nameof(MaxDeliveries));
    }
}
