namespace Busbar.Durability;

/// <summary>What <see cref="WriteAheadLog.Open(string, WriteAheadLogOptions, TimeProvider, Microsoft.Extensions.Logging.ILogger)"/> found on disk: work to resume, dead letters, and problems.</summary>
internal sealed record WalRecoveryResult(
    IReadOnlyList<WalPendingEvent> UnfinishedEvents,
    IReadOnlyList<WalDeadLetter> DeadLetters,
    IReadOnlyList<WalProblem> Problems);
