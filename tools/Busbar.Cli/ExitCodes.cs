namespace Busbar.Cli;

/// <summary>The process exit codes every command uses.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The command ran but could not do its job: a missing or unreadable directory, a locked log.</summary>
    public const int Failure = 1;

    /// <summary>The command line itself is wrong: an unknown command or a bad option.</summary>
    public const int Usage = 2;
}
