namespace Busbar;

/// <summary>What opening a write-ahead log does when it finds damage.</summary>
public enum WalRecoveryMode
{
    /// <summary>
    /// Recover around damage: truncate a torn tail, skip damaged records and recover what follows them, and report
    /// every problem. The bus starts whatever the files hold.
    /// </summary>
    Repair = 0,

    /// <summary>
    /// Refuse to start over damage: any problem other than a torn tail makes opening throw
    /// <see cref="WalCorruptionException"/> with the problems, and nothing on disk is modified. A torn tail alone
    /// (the normal result of a crash mid-write) is still truncated.
    /// </summary>
    Strict = 1,
}
