using System.CommandLine;

namespace Busbar.Cli.Wal;

/// <summary><c>busbar wal</c>: look inside a write-ahead log directory and re-drive its dead letters.</summary>
internal static class WalCommand
{
    public static Command Create(CliConsole io) =>
        new("wal", "Inspect a write-ahead log directory, list its dead letters, re-drive them.")
        {
            WalInspectCommand.Create(io),
            WalDeadLettersCommand.Create(io),
            WalRedriveCommand.Create(io),
        };

    public static Argument<string> DirectoryArgument() => new("dir") { Description = "The write-ahead log directory.", CustomParser = OptionValues.Path };

    public static Option<bool> JsonOption() => new("--json") { Description = "One JSON document instead of text, for scripts." };
}
