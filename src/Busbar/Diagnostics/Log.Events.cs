using Microsoft.Extensions.Logging;

namespace Busbar.Diagnostics;

/// <summary>Log messages written inside an <see cref="EventLogScope"/> by <see cref="BusLogger"/>.</summary>
internal static partial class Log
{
    [LoggerMessage(101, LogLevel.Warning, "Event {EventName} {EventId} was {Status}: the queue is full ({Suppressed} more dropped or rejected since the last report)")]
    public static partial void RefusedRateLimited(ILogger logger, string eventName, Guid eventId, EventStatus status, long suppressed);

    [LoggerMessage(102, LogLevel.Debug, "Processing {EventName} {EventId} after {DwellMs} ms in the queue")]
    public static partial void Dispatching(ILogger logger, string eventName, Guid eventId, double dwellMs);

    [LoggerMessage(EventId = 103, Message = "Payload of {EventName} {EventId}: {Payload}")]
    public static partial void Payload(ILogger logger, LogLevel level, string eventName, Guid eventId, string payload);
}
