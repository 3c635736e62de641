using System.Diagnostics.Metrics;

namespace Busbar.Redis;

/// <summary>The transport's instruments on the <c>Busbar.Redis</c> meter.</summary>
internal sealed class RedisMetrics : IDisposable
{
    public const string MeterName = "Busbar.Redis";

    private readonly Meter _meter;

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
    }

    public Counter<long> Published { get; }

    public Counter<long> Delivered { get; }

    public Counter<long> Acked { get; }

    public Counter<long> Redelivered { get; }

    public Counter<long> DeadLettered { get; }

    public Counter<long> GroupsRecreated { get; }

    public Counter<long> LostToCap { get; }

    public Meter Meter => _meter;

    public void Dispose() => _meter.Dispose();
}
