using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Busbar.Redis;

/// <summary>
/// Reports a Redis transport: unhealthy while disconnected, degraded once events were lost (a consumer group had to be
/// created again after <c>NOGROUP</c>, or the hard cap trimmed unacknowledged entries), healthy otherwise. The data
/// carries the server version, the alarm counters, in-flight deliveries and the worst group lag and pending count.
/// </summary>
/// <param name="transport">The transport to report on.</param>
public sealed class RedisTransportHealthCheck(IRedisTransport transport) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = transport.Status;
        var data = new Dictionary<string, object>
        {
            ["server_version"] = status.ServerVersion.ToString(),
            ["groups_recreated"] = status.GroupsRecreated,
            ["entries_lost_to_cap"] = status.EntriesLostToCap,
            ["in_flight"] = status.InFlight,
            ["max_group_lag"] = status.MaxGroupLag,
            ["max_group_pending"] = status.MaxGroupPending,
        };
        if (!status.IsConnected)
            return Task.FromResult(HealthCheckResult.Unhealthy("Redis is not connected.", data: data));
        if (status.LastAlarm is not null)
            return Task.FromResult(HealthCheckResult.Degraded(status.LastAlarm, data: data));
        return Task.FromResult(HealthCheckResult.Healthy("Redis transport connected.", data));
    }
}
