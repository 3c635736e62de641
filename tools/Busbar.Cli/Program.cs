using System.Runtime.InteropServices;
using Busbar.Cli;

using var interrupt = new CliInterrupt();
var io = CliConsole.ForProcess();

// The first Ctrl+C (or SIGTERM) asks for a graceful shutdown. A second one forces the exit, after the
// running command has restored the terminal (cursor, line) and said what it leaves in the log.
void OnSignal(PosixSignalContext context)
{
    context.Cancel = true;
    var signal = CliInterrupt.NameOf(sigterm: context.Signal == PosixSignal.SIGTERM);
    if (interrupt.Request(signal))
        return;
    if (interrupt.Force(signal) is not { } forced)
        return;
    io.Error.WriteLine(forced.Line);
    io.Error.Flush();
    io.Out.Flush();
    Environment.Exit(forced.ExitCode);
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
return await BusbarCli.RunAsync(args, io, interrupt);
