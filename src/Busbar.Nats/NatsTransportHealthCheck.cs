using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Busbar.Nats;

/// <summary>
/// Reports a NATS transport: unhealthy while disconnected, degraded after an alarm (a consumer had to be created again),
/// healthy otherwise; the data carries the pending and redelivered counts.
/// </summary>
/// <param name="transport">The transport to report on.</param>
public sealed class NatsTransportHealthCheck(INatsTransport transport) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = transport.Status;
        var data = new Dictionary<string, object>
        {
            ["server_version"] = status.ServerVersion.ToString(),
            ["multiple_filter_subjects"] = status.MultipleFilterSubjects,
            ["consumers_recreated"] = status.ConsumersRecreated,
            ["in_flight"] = status.InFlight,
            ["pending"] = status.Pending,
            ["redelivered"] = status.Redelivered,
        };
        if (!status.IsConnected)
            return Task.FromResult(HealthCheckResult.Unhealthy("NATS is not connected.", data: data));
        if (status.LastAlarm is not null)
            return Task.FromResult(HealthCheckResult.Degraded(status.LastAlarm, data: data));
        return Task.FromResult(HealthCheckResult.Healthy("NATS transport connected.", data));
    }
}
