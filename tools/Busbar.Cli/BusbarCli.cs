using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using Busbar.Cli.Broker;
using Busbar.Cli.Demo;
using Busbar.Cli.Distributed;
using Busbar.Cli.Wal;

namespace Busbar.Cli;

/// <summary>
/// The <c>busbar</c> command tree and its error policy: a bad command line prints one line and the
/// usage (exit 2); a user error prints one line (exit 1); neither prints a stack trace.
/// </summary>
internal static class BusbarCli
{
    /// <summary>Runs one command line; used by <c>Main</c> and, with a test console, by the tests.</summary>
    /// <param name="args">The arguments, without the program name.</param>
    /// <param name="io">Where output and errors go.</param>
    /// <param name="interrupt">Ctrl+C (SIGINT) or SIGTERM; long-running commands shut down gracefully.</param>
    /// <returns>The exit code: <see cref="ExitCodes"/>.</returns>
    public static async Task<int> RunAsync(string[] args, CliConsole io, CliInterrupt interrupt)
    {
        var root = CreateRootCommand(io, interrupt);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // "Unrecognized command 'x'" says more than the "Required command was not provided" that comes with it.
            var error = parse.Errors.FirstOrDefault(static e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
            io.Error.WriteLine($"busbar: {error.Message}");
            io.Error.WriteLine(Usage(parse.CommandResult));
            return ExitCodes.Usage;
        }

        var invocation = new InvocationConfiguration
        {
            Output = io.Out,
            Error = io.Error,
            EnableDefaultExceptionHandler = false,

            // Ctrl+C is ours: it triggers a graceful shutdown, which must not be cut short by a forced exit.
            ProcessTerminationTimeout = null,
        };
        try
        {
            return await parse.InvokeAsync(invocation, interrupt.Token);
        }
        catch (UserErrorException ex)
        {
            io.Error.WriteLine($"busbar: {ex.Message}");
            return ExitCodes.Failure;
        }
        catch (OperationCanceledException) when (interrupt.Token.IsCancellationRequested)
        {
            // Ctrl+C while a short command (publish, dead-letters, redrive) waited for the broker.
            io.Error.WriteLine($"busbar: interrupted by {interrupt.Signal} before the command finished.");
            return ExitCodes.Failure;
        }
    }

    /// <summary>
    /// The command tree. The root is a plain command named <c>busbar</c> rather than a
    /// <see cref="RootCommand"/>, which takes its name from the executable (<c>Busbar.Cli</c> under
    /// <c>dotnet Busbar.Cli.dll</c>) and would show that in help and usage.
    /// </summary>
    internal static Command CreateRootCommand(CliConsole io, CliInterrupt interrupt) =>
        new("busbar", "Run the Busbar demo, inspect write-ahead logs, and watch, publish to and re-drive a Redis or NATS bus.")
        {
            new HelpOption(),
            new VersionOption(),
            DemoCommand.Create(io, interrupt),
            WalCommand.Create(io),
            TailCommand.Create(io),
            PublishCommand.Create(io),
            DeadLettersCommand.Create(io),
            RedriveCommand.Create(io),
            WorkerCommand.Create(io),
        };

    /// <summary>One usage line for the command the parser got to, e.g. <c>usage: busbar wal inspect &lt;dir&gt; [options]</c>.</summary>
    private static string Usage(CommandResult result)
    {
        var path = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c; r = c.Parent)
            path.Insert(0, c.Command.Name);
        var command = result.Command;
        var parts = new List<string>(path);
        if (command.Subcommands.Count > 0)
            parts.Add("<" + string.Join('|', command.Subcommands.Where(static s => !s.Hidden).Select(static s => s.Name)) + ">");
        foreach (var argument in command.Arguments)
            parts.Add($"<{argument.Name}>");
        if (command.Options.Any(static o => o is not HelpOption and not VersionOption))
            parts.Add("[options]");
        return $"usage: {string.Join(' ', parts)}  (see '{string.Join(' ', path)} --help')";
    }
}
