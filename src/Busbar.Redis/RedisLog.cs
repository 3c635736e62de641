using Microsoft.Extensions.Logging;

namespace Busbar.Redis;

/// <summary>Source-generated log messages. Names, ids, counts and reasons only: never a payload, never a password.</summary>
internal static partial class RedisLog
{
    [LoggerMessage(100, LogLevel.Information, "Connected to Redis {Version} at {EndPoint} as consumer {Consumer}")]
    public static partial void Connected(ILogger logger, Version version, string endPoint, string consumer);

    [LoggerMessage(101, LogLevel.Error, "Consumer group {Group} on stream {Stream} was missing (NOGROUP) and has been created again: the server lost its data (restart without persistence, FLUSHALL); events pending or not yet read were lost")]
    public static partial void GroupRecreated(ILogger logger, string group, string stream);

    [LoggerMessage(102, LogLevel.Warning, "Reading group {Group} failed; retrying after {DelayMs} ms")]
    public static partial void ReadFailed(ILogger logger, Exception exception, string group, double delayMs);

    [LoggerMessage(103, LogLevel.Warning, "Janitor of group {Group} failed; retrying next round")]
    public static partial void JanitorFailed(ILogger logger, Exception exception, string group);

    [LoggerMessage(104, LogLevel.Warning, "Dead-lettered {EventName} entry {EntryId} of group {Group} after {Deliveries} deliveries: {Reason}")]
    public static partial void DeadLettered(ILogger logger, string eventName, string entryId, string group, int deliveries, string reason);

    [LoggerMessage(105, LogLevel.Error, "Stream {Stream} was over its hard cap of {Cap} entries: {Lost} unacknowledged entries were trimmed and are lost")]
    public static partial void CapTrimmed(ILogger logger, string stream, long cap, long lost);

    [LoggerMessage(106, LogLevel.Debug, "Group {Group} now reads stream {Stream}")]
    public static partial void StreamAdded(ILogger logger, string group, string stream);

    [LoggerMessage(107, LogLevel.Warning, "Settling entry {EntryId} of {EventName} for group {Group} found the group gone (NOGROUP); nothing to settle")]
    public static partial void SettleNoGroup(ILogger logger, string entryId, string eventName, string group);
}
