using System.Runtime.InteropServices;
using Busbar.Cli;

using var interrupt = new CancellationTokenSource();

// The first Ctrl+C (or SIGTERM) asks for a graceful shutdown; a second one ends the process at once.
void OnSignal(PosixSignalContext context)
{
    if (interrupt.IsCancellationRequested)
        return;
    context.Cancel = true;
    interrupt.Cancel();
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
return await BusbarCli.RunAsync(args, CliConsole.ForProcess(), interrupt.Token);
