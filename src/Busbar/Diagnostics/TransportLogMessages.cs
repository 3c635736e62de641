using Microsoft.Extensions.Logging;

namespace Busbar.Diagnostics;

/// <summary>Log messages of a bus's transport link (ids 301–399): connection, subscriptions, deliveries. Names, ids and reasons only, never payloads.</summary>
internal static partial class TransportLogMessages
{
    [LoggerMessage(301, LogLevel.Error, "Bus {Bus} could not connect its transport; publishes fail and nothing is consumed")]
    public static partial void ConnectFailed(ILogger logger, Exception exception, string bus);

    [LoggerMessage(302, LogLevel.Information, "Bus {Bus} consumes {Patterns} in group {Group}")]
    public static partial void Subscribed(ILogger logger, string bus, string patterns, string group);

    [LoggerMessage(303, LogLevel.Error, "Bus {Bus} could not subscribe group {Group} to {Patterns}; retrying")]
    public static partial void SubscribeFailed(ILogger logger, Exception exception, string bus, string group, string patterns);

    [LoggerMessage(304, LogLevel.Error, "Publishing {EventName} {EventId} to the broker failed")]
    public static partial void PublishFailed(ILogger logger, Exception exception, string eventName, Guid eventId);

    [LoggerMessage(305, LogLevel.Warning, "Delivery {DeliveryId} of {EventName} cannot be decoded and goes to the dead letters: {Reason}")]
    public static partial void Undecodable(ILogger logger, string eventName, string deliveryId, string reason);

    [LoggerMessage(306, LogLevel.Warning, "Delivery {DeliveryId} of {EventName} {EventId} ended {Status} on delivery {DeliveryCount}; it comes again in {DelayMs} ms")]
    public static partial void RetryLater(ILogger logger, string eventName, Guid eventId, string deliveryId, EventStatus status, int deliveryCount, double delayMs);

    [LoggerMessage(307, LogLevel.Error, "Delivery {DeliveryId} of {EventName} {EventId} goes to the dead letters: {Reason}")]
    public static partial void Terminated(ILogger logger, string eventName, Guid eventId, string deliveryId, string reason);

    [LoggerMessage(308, LogLevel.Warning, "Settling delivery {DeliveryId} of {EventName} failed; it comes again after its lease")]
    public static partial void SettleFailed(ILogger logger, Exception exception, string eventName, string deliveryId);

    [LoggerMessage(309, LogLevel.Warning, "Extending the lease of delivery {DeliveryId} of {EventName} failed")]
    public static partial void ExtendFailed(ILogger logger, Exception exception, string eventName, string deliveryId);

    [LoggerMessage(310, LogLevel.Critical, "Internal error while handling delivery {DeliveryId} of {EventName}; it comes again after its lease")]
    public static partial void DeliveryFault(ILogger logger, Exception exception, string eventName, string deliveryId);

    [LoggerMessage(311, LogLevel.Error, "Bus {Bus} stopped reading a subscription of group {Group}")]
    public static partial void ReadFailed(ILogger logger, Exception exception, string bus, string group);
}
