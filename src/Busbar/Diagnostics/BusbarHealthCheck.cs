using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Busbar.Diagnostics;

/// <summary>
/// Health of one bus for Microsoft.Extensions.Diagnostics.HealthChecks: <c>Unhealthy</c> once the bus
/// is stopping or stopped, <c>Degraded</c> while its queue has stayed at or above the high-water
/// mark for longer than <see cref="BusbarHealthCheckOptions.DegradedAfter"/>, else <c>Healthy</c>.
/// The result's data carries the bus statistics (queue depth, capacity, in flight, counters).
/// </summary>
/// <remarks>
/// The check keeps state between calls (when the queue first reached the mark), so register one
/// instance per bus as a singleton; <c>AddBusbar(…).AddHealthCheck()</c> does. The queue is
/// sampled when the check runs: a dip below the mark between two checks is not seen.
/// </remarks>
public sealed class BusbarHealthCheck : IHealthCheck
{
    private const long NotAbove = long.MinValue;

    private readonly IBusStatus _bus;
    private readonly BusbarHealthCheckOptions _options;
    private readonly TimeProvider _timeProvider;
    private long _aboveSince = NotAbove;

    /// <summary>Creates the check for <paramref name="bus"/>.</summary>
    /// <param name="bus">The bus to watch.</param>
    /// <param name="options">Thresholds; defaults when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is invalid; the message names it.</exception>
    public BusbarHealthCheck(IEventBus bus, BusbarHealthCheckOptions? options = null, TimeProvider? timeProvider = null)
        : this(bus as IBusStatus ?? new StatisticsOnly(bus ?? throw new ArgumentNullException(nameof(bus))), options, timeProvider)
    {
    }

    /// <summary>Creates the check over what it reads of a bus.</summary>
    internal BusbarHealthCheck(IBusStatus bus, BusbarHealthCheckOptions? options, TimeProvider? timeProvider)
    {
        _bus = bus;
        _options = options ?? new BusbarHealthCheckOptions();
        _options.Validate();
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc/>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var stats = _bus.GetStatistics();
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["bus"] = stats.Name,
            ["queueDepth"] = stats.QueueDepth,
            ["capacity"] = stats.Capacity,
            ["inFlight"] = stats.InFlight,
            ["published"] = stats.Published,
            ["processed"] = stats.Processed,
            ["failed"] = stats.Failed,
            ["dropped"] = stats.Dropped,
            ["rejected"] = stats.Rejected,
            ["deadLettered"] = stats.DeadLettered,
        };
        if (_bus.IsStopping)
            return Task.FromResult(new HealthCheckResult(context?.Registration?.FailureStatus ?? HealthStatus.Unhealthy, $"Bus '{stats.Name}' is stopped.", data: data));

        var mark = Math.Max(1, (int)Math.Ceiling(stats.Capacity * _options.HighWaterMark));
        var now = _timeProvider.GetTimestamp();
        if (stats.QueueDepth < mark)
        {
            Volatile.Write(ref _aboveSince, NotAbove);
            return Task.FromResult(HealthCheckResult.Healthy($"Bus '{stats.Name}': {stats.QueueDepth}/{stats.Capacity} queued.", data));
        }

        var since = Interlocked.CompareExchange(ref _aboveSince, now, NotAbove);
        var above = since == NotAbove ? TimeSpan.Zero : _timeProvider.GetElapsedTime(since, now);
        var description = $"Bus '{stats.Name}': {stats.QueueDepth}/{stats.Capacity} queued, at or above the high-water mark ({mark}) for {above}.";
        return Task.FromResult(above >= _options.DegradedAfter
            ? HealthCheckResult.Degraded(description, data: data)
            : HealthCheckResult.Healthy(description, data));
    }

    /// <summary>A bus that is not Busbar's own: its statistics, and never seen stopping.</summary>
    private sealed class StatisticsOnly(IEventBus bus) : IBusStatus
    {
        public bool IsStopping => false;

        public BusStatistics GetStatistics() => bus.GetStatistics();
    }
}
