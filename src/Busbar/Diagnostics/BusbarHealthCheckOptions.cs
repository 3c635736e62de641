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

    /// <summary>The name under which <c>AddBusbar(…).AddHealthCheck()</c> adds the check to the host's health checks.</summary>
    /// <value>Default <see langword="null"/>: <c>busbar</c> for the default bus, <c>busbar-{bus name}</c> for a named bus.</value>
    /// <remarks>Not read by <see cref="BusbarHealthCheck"/> itself.</remarks>
    public string? RegistrationName { get; init; }

    /// <summary>The tags of the health-check registration, for filtering (e.g. a readiness endpoint).</summary>
    /// <value>Default <c>["busbar"]</c>.</value>
    /// <remarks>Not read by <see cref="BusbarHealthCheck"/> itself.</remarks>
    public IReadOnlyList<string> Tags { get; init; } = ["busbar"];

    internal void Validate()
    {
        if (RegistrationName is not null && string.IsNullOrWhiteSpace(RegistrationName))
            throw new ArgumentOutOfRangeException(nameof(RegistrationName), RegistrationName, "BusbarHealthCheckOptions.RegistrationName must not be empty or white space (leave it null for the default name).");
        ArgumentNullException.ThrowIfNull(Tags, nameof(Tags));
        if (!(HighWaterMark > 0 && HighWaterMark <= 1))
            throw new ArgumentOutOfRangeException(nameof(HighWaterMark), HighWaterMark, $"BusbarHealthCheckOptions.HighWaterMark must be greater than 0 and at most 1 (was {HighWaterMark}).");
        if (DegradedAfter < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(DegradedAfter), DegradedAfter, $"BusbarHealthCheckOptions.DegradedAfter must not be negative (was {DegradedAfter}).");
    }
}
