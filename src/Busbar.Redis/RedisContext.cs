using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>What a subscription and its deliveries use of the transport: the connection, the layout, the options, telemetry and the alarm counters.</summary>
internal sealed class RedisContext(
    IConnectionMultiplexer connection,
    RedisKeys keys,
    RedisTransportOptions options,
    string consumerName,
    ILogger logger,
    TimeProvider time,
    RedisMetrics metrics)
{
    private long _groupsRecreated;
    private long _lostToCap;
    private string? _lastAlarm;

    public IConnectionMultiplexer Connection { get; } = connection;

    public IDatabase Database { get; } = connection.GetDatabase();

    public RedisKeys Keys { get; } = keys;

    public RedisTransportOptions Options { get; } = options;

    public RedisValue ConsumerName { get; } = consumerName;

    public long LeaseMilliseconds { get; } = (long)options.Lease.TotalMilliseconds;

    public ILogger Logger { get; } = logger;

    public TimeProvider Time { get; } = time;

    public RedisMetrics Metrics { get; } = metrics;

    public long GroupsRecreated => Interlocked.Read(ref _groupsRecreated);

    public long LostToCap => Interlocked.Read(ref _lostToCap);

    public string? LastAlarm => Volatile.Read(ref _lastAlarm);

    public void GroupRecreated(string group, string stream)
    {
        Interlocked.Increment(ref _groupsRecreated);
        Metrics.GroupsRecreated.Add(1, new KeyValuePair<string, object?>("group", group));
        Volatile.Write(ref _lastAlarm, $"Consumer group '{group}' on stream '{stream}' was missing (NOGROUP) and was created again at {Time.GetUtcNow():O}: events may have been lost.");
        RedisLog.GroupRecreated(Logger, group, stream);
    }

    public void LostEntriesToCap(string stream, long lost)
    {
        Interlocked.Add(ref _lostToCap, lost);
        Metrics.LostToCap.Add(lost);
        Volatile.Write(ref _lastAlarm, $"Stream '{stream}' passed its hard cap of {Options.MaxStreamLength} entries at {Time.GetUtcNow():O}: {lost} unacknowledged entries were trimmed.");
        RedisLog.CapTrimmed(Logger, stream, Options.MaxStreamLength!.Value, lost);
    }

    public static bool IsNoGroup(RedisServerException ex) => ex.Message.StartsWith("NOGROUP", StringComparison.Ordinal);

    public static bool IsBusyGroup(RedisServerException ex) => ex.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal);
}
