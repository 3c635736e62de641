using Microsoft.Extensions.Logging;

namespace Busbar.Nats;

/// <summary>Source-generated log messages. Names, ids, counts and reasons only: never a payload, never a secret.</summary>
internal static partial class NatsLog
{
    [LoggerMessage(200, LogLevel.Information, "Connected to NATS {Version} at {Url}; stream {Stream}, several filter subjects per consumer: {MultipleFilters}")]
    public static partial void Connected(ILogger logger, Version version, string url, string stream, bool multipleFilters);

    [LoggerMessage(201, LogLevel.Warning, "Reading consumer {Consumer} of group {Group} failed; retrying after {DelayMs} ms")]
    public static partial void ReadFailed(ILogger logger, Exception exception, string consumer, string group, double delayMs);

    [LoggerMessage(202, LogLevel.Warning, "Dead-lettered {EventName} message {Sequence} of group {Group} after {Deliveries} deliveries: {Reason}")]
    public static partial void DeadLettered(ILogger logger, string eventName, string sequence, string group, int deliveries, string reason);

    [LoggerMessage(203, LogLevel.Error, "Consumer {Consumer} of group {Group} was missing on the server and has been created again: it starts over from the oldest message the stream keeps, so events are delivered again")]
    public static partial void ConsumerRecreated(ILogger logger, string consumer, string group);

    [LoggerMessage(204, LogLevel.Warning, "Publishing {EventName} {EventId} got no answer; re-sending with the same Nats-Msg-Id (attempt {Attempt})")]
    public static partial void PublishRetry(ILogger logger, Exception exception, string eventName, Guid eventId, int attempt);

    [LoggerMessage(205, LogLevel.Debug, "Group {Group} reads consumer {Consumer} with filter {Filter}")]
    public static partial void ConsumerReady(ILogger logger, string group, string consumer, string filter);

    [LoggerMessage(206, LogLevel.Warning, "Dead-lettering message {Sequence} of {EventName} for group {Group} failed; it is given back to be tried again")]
    public static partial void DeadLetterFailed(ILogger logger, Exception exception, string sequence, string eventName, string group);

    [LoggerMessage(207, LogLevel.Warning, "Reading the state of consumer {Consumer} failed")]
    public static partial void StatusFailed(ILogger logger, Exception exception, string consumer);

    [LoggerMessage(208, LogLevel.Information, "NATS connection {State}")]
    public static partial void ConnectionChanged(ILogger logger, string state);
}
