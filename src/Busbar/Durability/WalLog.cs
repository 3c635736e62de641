using Microsoft.Extensions.Logging;

namespace Busbar.Durability;

internal static partial class WalLog
{
    [LoggerMessage(1, LogLevel.Information, "Write-ahead log '{Directory}' recovered: {UnfinishedEvents} unfinished events, {DeadLetters} dead letters, {Segments} segments, {Problems} problems.")]
    public static partial void Recovered(ILogger logger, string directory, int unfinishedEvents, int deadLetters, int segments, int problems);

    [LoggerMessage(2, LogLevel.Warning, "Write-ahead log problem {Kind} in {Segment} at offset {Offset} ({Bytes} bytes, {Action}): {Message}")]
    public static partial void Problem(ILogger logger, WalProblemKind kind, string segment, long offset, long bytes, WalRecoveryAction action, string message);

    [LoggerMessage(3, LogLevel.Error, "Write-ahead log '{Directory}' failed to write; it no longer accepts appends.")]
    public static partial void WriteFailed(ILogger logger, Exception exception, string directory);

    [LoggerMessage(4, LogLevel.Debug, "Write-ahead log compacted segment {Segment}: copied {Records} live records.")]
    public static partial void Compacted(ILogger logger, string segment, int records);
}
