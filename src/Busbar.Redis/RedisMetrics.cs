using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Busbar.Redis;

/// <summary>The transport's instruments on the <c>Busbar.Redis</c> meter.</summary>
internal sealed class RedisMetrics : IDisposable
{
    public const string MeterName = "Busbar.Redis";

    private readonly Meter _meter;
    private readonly ConcurrentDictionary<(string Group, string Stream), (long Pending, long? Lag)> _groups = new();

    public RedisMetrics(IMeterFactory? meterFactory)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        Published = _meter.CreateCounter<long>("busbar.redis.published", "{event}", "Entries added to streams (XADD replied).");
        Delivered = _meter.CreateCounter<long>("busbar.redis.delivered", "{event}", "Entries delivered to this instance, first deliveries and redeliveries.");
        Acked = _meter.CreateCounter<long>("busbar.redis.acked", "{event}", "Deliveries acknowledged.");
        Redelivered = _meter.CreateCounter<long>("busbar.redis.redelivered", "{event}", "Entries claimed by the janitor after their lease or retry delay and delivered again.");
        DeadLettered = _meter.CreateCounter<long>("busbar.redis.dead_lettered", "{event}", "Entries moved to the dead-letter stream.");
        GroupsRecreated = _meter.CreateCounter<long>("busbar.redis.groups_recreated", "{group}", "Consumer groups found missing (NOGROUP) and created again: events were lost.");
        LostToCap = _meter.CreateCounter<long>("busbar.redis.lost_to_cap", "{event}", "Unacknowledged entries trimmed by the hard cap.");
        _meter.CreateObservableGauge("busbar.redis.pending", () => Observe(static state => state.Pending), "{event}", "Entries delivered to a group and not yet acknowledged, per group and stream, as of the last janitor round.");
        _meter.CreateObservableGauge("busbar.redis.lag", () => Observe(static state => state.Lag), "{event}", "Entries in a stream a group has not read yet (XINFO GROUPS lag), as of the last janitor round.");
    }

    public Counter<long> Published { get; }

    public Counter<long> Delivered { get; }

    public Counter<long> Acked { get; }

    public Counter<long> Redelivered { get; }

    public Counter<long> DeadLettered { get; }

    public Counter<long> GroupsRecreated { get; }

    public Counter<long> LostToCap { get; }

    public Meter Meter => _meter;

    /// <summary>The janitor's latest view of one group on one stream (lag is unknown to Redis after some restarts).</summary>
    public void RecordGroup(string group, string stream, long pending, long? lag) => _groups[(group, stream)] = (pending, lag);

    /// <summary>The largest lag and pending count over the groups and streams this instance's janitors have seen.</summary>
    public (long Pending, long Lag) Worst()
    {
        long pending = 0, lag = 0;
        foreach (var state in _groups.Values)
        {
            pending = Math.Max(pending, state.Pending);
            lag = Math.Max(lag, state.Lag ?? 0);
        }

        return (pending, lag);
    }

    private IEnumerable<Measurement<long>> Observe(Func<(long Pending, long? Lag), long?> pick)
    {
        foreach (var (key, state) in _groups)
        {
            if (pick(state) is { } value)
                yield return new Measurement<long>(value, new KeyValuePair<string, object?>("group", key.Group), new KeyValuePair<string, object?>("stream", key.Stream));
        }
    }

    public void Dispose() => _meter.Dispose();
}
