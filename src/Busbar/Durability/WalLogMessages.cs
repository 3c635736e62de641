using Microsoft.Extensions.Logging;

namespace Busbar.Durability;

/// <summary>
/// The write-ahead log's own messages. They share the bus's <c>Busbar</c> category, so their event ids
/// have a range of their own, 201–299 (docs/observability.md lists every range).
/// </summary>
internal static partial class WalLogMessages
{
    [LoggerMessage(201, LogLevel.Information, "Write-ahead log '{Directory}' recovered: {PendingEvents} pending events, {DeadLetters} dead letters, {Segments} segments, {Problems} problems.")]
    public static partial void Recovered(ILogger logger, string directory, int pendingEvents, int deadLetters, int segments, int problems);

    [LoggerMessage(202, LogLevel.Warning, "Write-ahead log problem {Kind} in {Segment} at offset {Offset} ({Bytes} bytes, {Action}): {Message}")]
    public static partial void Problem(ILogger logger, WalProblemKind kind, string segment, long offset, long bytes, WalRecoveryAction action, string message);

    [LoggerMessage(203, LogLevel.Error, "Write-ahead log '{Directory}' failed to write; it no longer accepts appends.")]
    public static partial void WriteFailed(ILogger logger, Exception exception, string directory);

    [LoggerMessage(204, LogLevel.Debug, "Write-ahead log compacted segment {Segment}: copied {Records} live records.")]
    public static partial void Compacted(ILogger logger, string segment, int records);
}
