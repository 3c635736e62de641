using Microsoft.Extensions.Logging;

namespace Busbar.Diagnostics;

/// <summary>Source-generated log messages. Payloads are never logged here: only names, ids and counts.</summary>
/// <remarks>
/// Event ids by area, all under the <c>Busbar</c> category: 1–99 the bus (publish, handlers, stop, its
/// write-ahead log's recorder), 101–199 messages about one event written by <see cref="EventLogger"/> inside its
/// <see cref="EventLogScope"/>, 201–299 the write-ahead log (<c>WalLogMessages</c>). A test keeps them unique and in range; docs/observability.md lists them.
/// </remarks>
internal static partial class LogMessages
{
    [LoggerMessage(1, LogLevel.Debug, "Published {EventName} {EventId} (correlation {CorrelationId})")]
    public static partial void Published(ILogger logger, string eventName, Guid eventId, Guid correlationId);

    [LoggerMessage(2, LogLevel.Warning, "Event {EventName} {EventId} was {Status}: the queue is full")]
    public static partial void Refused(ILogger logger, string eventName, Guid eventId, EventStatus status);

    [LoggerMessage(3, LogLevel.Error, "Handler {Subscription} failed on {EventName} {EventId} (correlation {CorrelationId}) after {Attempts} attempt(s)")]
    public static partial void HandlerFailed(ILogger logger, Exception? exception, string eventName, Guid eventId, Guid correlationId, string subscription, int attempts);

    [LoggerMessage(4, LogLevel.Error, "Handler {Subscription} timed out on {EventName} {EventId} (correlation {CorrelationId}) after {Attempts} attempt(s)")]
    public static partial void HandlerTimedOut(ILogger logger, string eventName, Guid eventId, Guid correlationId, string subscription, int attempts);

    [LoggerMessage(5, LogLevel.Warning, "Handler {Subscription} ignored cancellation on {EventName} {EventId}; it was abandoned and keeps running unobserved by the bus")]
    public static partial void HandlerAbandoned(ILogger logger, string eventName, Guid eventId, string subscription);

    [LoggerMessage(6, LogLevel.Warning, "Handler {Subscription} was slow on {EventName} {EventId}: {ElapsedMs} ms")]
    public static partial void SlowHandler(ILogger logger, string eventName, Guid eventId, string subscription, double elapsedMs);

    [LoggerMessage(7, LogLevel.Critical, "Internal error while processing {EventName} {EventId}")]
    public static partial void ProcessorFault(ILogger logger, Exception exception, string eventName, Guid eventId);

    [LoggerMessage(8, LogLevel.Error, "An OnEventShed callback threw for {EventName} {EventId} ({Status})")]
    public static partial void CallbackFailed(ILogger logger, Exception exception, string eventName, Guid eventId, EventStatus status);

    [LoggerMessage(9, LogLevel.Information, "Bus {Bus} stopping: {Queued} queued, draining for up to {DrainMs} ms")]
    public static partial void Stopping(ILogger logger, string bus, int queued, double drainMs);

    [LoggerMessage(10, LogLevel.Information, "Bus {Bus} stopped: {Drained} drained, {Cancelled} cancelled")]
    public static partial void Stopped(ILogger logger, string bus, long drained, long cancelled);

    [LoggerMessage(11, LogLevel.Warning, "Bus {Bus} stopped with {Running} handler(s) still running after cancellation")]
    public static partial void StopAbandoned(ILogger logger, string bus, long running);

    [LoggerMessage(12, LogLevel.Warning, "Handler {Subscription} failed on {EventName} {EventId}, attempt {Attempt}; retrying")]
    public static partial void Retrying(ILogger logger, Exception? exception, string eventName, Guid eventId, string subscription, int attempt);

    [LoggerMessage(13, LogLevel.Warning, "Write-ahead log {Directory}: {Count} pending event(s) wait for subscriptions {Subscriptions} to be registered")]
    public static partial void RecoveryWaiting(ILogger logger, string directory, int count, string subscriptions);

    [LoggerMessage(14, LogLevel.Error, "Write-ahead log {Directory}: a record could not be written")]
    public static partial void JournalWriteFailed(ILogger logger, Exception exception, string directory);

    [LoggerMessage(16, LogLevel.Error, "A callback registered on a handler's cancellation token threw when the bus cancelled it")]
    public static partial void CancellationCallbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(15, LogLevel.Warning, "Write-ahead log {Directory}: at stop, {Count} pending event(s) wait for subscriptions that were never registered: {Subscriptions}")]
    public static partial void RecoveryUnclaimed(ILogger logger, string directory, int count, string subscriptions);

    // 101–199: written by EventLogger inside an EventLogScope.
    [LoggerMessage(101, LogLevel.Warning, "Event {EventName} {EventId} was {Status}: the queue is full ({Suppressed} more dropped or rejected since the last report)")]
    public static partial void RefusedRateLimited(ILogger logger, string eventName, Guid eventId, EventStatus status, long suppressed);

    [LoggerMessage(102, LogLevel.Debug, "Processing {EventName} {EventId} after {DwellMs} ms in the queue")]
    public static partial void Dispatching(ILogger logger, string eventName, Guid eventId, double dwellMs);

    [LoggerMessage(EventId = 103, Message = "Payload of {EventName} {EventId}: {Payload}")]
    public static partial void Payload(ILogger logger, LogLevel level, string eventName, Guid eventId, string payload);
}
