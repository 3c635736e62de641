namespace Busbar.Redis;

/// <summary>A snapshot of a Redis transport's health: connection, alarms and counters since it started.</summary>
public sealed record RedisTransportStatus
{
    /// <summary>Whether the connection to Redis is up.</summary>
    public required bool IsConnected { get; init; }

    /// <summary>The server version found at start.</summary>
    public required Version ServerVersion { get; init; }

    /// <summary>
    /// How often a consumer group this transport had been reading was found missing (<c>NOGROUP</c>: the server restarted
    /// without persistence, or was flushed) and created again. Non-zero means events may have been lost.
    /// </summary>
    public required long GroupsRecreated { get; init; }

    /// <summary>Unacknowledged entries trimmed by <see cref="RedisTransportOptions.MaxStreamLength"/>: events lost to the cap.</summary>
    public required long EntriesLostToCap { get; init; }

    /// <summary>The latest alarm, for the health check and operators; none when nothing was lost.</summary>
    public required string? LastAlarm { get; init; }

    /// <summary>Entries delivered to and not yet settled by this instance's subscriptions, summed.</summary>
    public required long InFlight { get; init; }

    /// <summary>The largest number of entries one of this instance's groups has not read yet on one stream, as of the janitor's last round (0 before it).</summary>
    public required long MaxGroupLag { get; init; }

    /// <summary>The largest number of entries one of this instance's groups has delivered and not acknowledged on one stream, as of the janitor's last round.</summary>
    public required long MaxGroupPending { get; init; }
}
