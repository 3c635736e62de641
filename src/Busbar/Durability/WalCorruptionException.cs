namespace Busbar;

/// <summary>
/// A write-ahead log opened with <see cref="WalRecoveryMode.Strict"/> holds damage other than a torn tail; nothing was modified.
/// </summary>
/// <remarks>
/// Inspect the problems (also with <see cref="WriteAheadLogInspector.Inspect"/> or <c>busbar wal inspect</c>), keep
/// a copy of the directory, then open it with <see cref="WalRecoveryMode.Repair"/> to recover around the damage.
/// </remarks>
public sealed class WalCorruptionException : IOException
{
    /// <summary>Initializes a new instance with a default message and no problems.</summary>
    public WalCorruptionException()
    {
    }

    /// <summary>Initializes a new instance with a message and no problems.</summary>
    /// <param name="message">The message.</param>
    public WalCorruptionException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with a message, an inner exception and no problems.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public WalCorruptionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance with a message and the problems found.</summary>
    /// <param name="message">The message.</param>
    /// <param name="problems">Every problem found, torn tails included.</param>
    public WalCorruptionException(string message, IReadOnlyList<WalProblem> problems)
        : base(message)
    {
        ArgumentNullException.ThrowIfNull(problems);
        Problems = problems;
    }

    /// <summary>Gets every problem the strict open found.</summary>
    public IReadOnlyList<WalProblem> Problems { get; } = [];
}
