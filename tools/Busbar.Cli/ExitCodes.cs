namespace Busbar.Cli;

/// <summary>The process exit codes every command uses (see docs/cli.md for the full table, with 130 and 143).</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The command ran but could not do its job: a missing directory, one that holds no log, a locked log.</summary>
    public const int Failure = 1;

    /// <summary>The command line itself is wrong: an unknown command or a bad option.</summary>
    public const int Usage = 2;

    /// <summary><c>wal inspect</c> found damage in the log (torn tail, checksum mismatch, malformed or orphaned records).</summary>
    public const int Damaged = 3;
}
