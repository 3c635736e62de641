namespace Busbar.Nats;

/// <summary>A snapshot of a NATS transport's health: connection, alarms and counters since it started.</summary>
public sealed record NatsTransportStatus
{
    /// <summary>Whether the connection to NATS is open.</summary>
    public required bool IsConnected { get; init; }

    /// <summary>The server version found at connect.</summary>
    public required Version ServerVersion { get; init; }

    /// <summary>Whether consumers use several filter subjects (server 2.10+) rather than one consumer per pattern (2.9).</summary>
    public required bool MultipleFilterSubjects { get; init; }

    /// <summary>How often a consumer this transport was reading was found missing on the server and created again (its group then receives retained events again).</summary>
    public required long ConsumersRecreated { get; init; }

    /// <summary>The latest alarm, for the health check and operators; none while nothing went wrong.</summary>
    public required string? LastAlarm { get; init; }

    /// <summary>Deliveries handed to and not yet settled by this instance, summed over its subscriptions.</summary>
    public required long InFlight { get; init; }

    /// <summary>Messages the stream holds that this instance's consumers have not delivered yet (the group lag), as last read.</summary>
    public required long Pending { get; init; }

    /// <summary>Messages this instance's consumers delivered more than once and that are not yet acknowledged, as last read.</summary>
    public required long Redelivered { get; init; }
}
