namespace Busbar.Diagnostics;

/// <summary>Thresholds of <see cref="BusbarHealthCheck"/>.</summary>
public sealed record BusbarHealthCheckOptions
{
    /// <summary>The queue depth, as a fraction of <see cref="EventBusOptions.Capacity"/>, at or above which the queue counts as backed up.</summary>
    /// <value>Default 0.8. Must be greater than 0 and at most 1.</value>
    public double HighWaterMark { get; init; } = 0.8;

    /// <summary>How long the queue must stay at or above the high-water mark before the check reports <c>Degraded</c>.</summary>
    /// <value>Default 30 seconds. Zero reports <c>Degraded</c> as soon as a check sees the mark reached.</value>
    public TimeSpan DegradedAfter { get; init; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        if (!(HighWaterMark > 0 && HighWaterMark <= 1))
            throw new ArgumentOutOfRangeException(nameof(HighWaterMark), HighWaterMark, $"BusbarHealthCheckOptions.HighWaterMark must be greater than 0 and at most 1 (was {HighWaterMark}).");
        if (DegradedAfter < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(DegradedAfter), DegradedAfter, $"BusbarHealthCheckOptions.DegradedAfter must not be negative (was {DegradedAfter}).");
    }
}
