using System.Text.Json;
using Busbar.Durability;
using Spectre.Console;

namespace Busbar.Cli.Demo;

/// <summary>
/// Runs <c>busbar demo</c>: builds the bus, starts the publisher, shows progress (live or plain), and
/// when the run is over or Ctrl+C arrives, stops the bus gracefully and prints the summary.
/// </summary>
internal static class DemoRunner
{
    private static readonly TimeSpan s_liveRefresh = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan s_plainInterval = TimeSpan.FromSeconds(1);

    /// <param name="settings">What to run.</param>
    /// <param name="io">Where to write.</param>
    /// <param name="interrupt">Fires on Ctrl+C: stop publishing, then the same graceful shutdown.</param>
    public static async Task<int> RunAsync(DemoSettings settings, CliConsole io, CancellationToken interrupt)
    {
        var time = TimeProvider.System;
        var walDirectory = PrepareWalDirectory(settings.WalDirectory);
        var ledger = new OutcomeLedger();
        var pipeline = new OrderPipeline(ledger);
        var builder = new EventBusBuilder()
            .WithOptions(new EventBusOptions
            {
                Name = "demo",
                Capacity = settings.Capacity,
                FullMode = settings.FullMode,
                MaxConcurrentEvents = settings.Concurrency,
                HandlerConcurrency = HandlerConcurrency.Parallel,
                SlowHandlerThreshold = OrderPipeline.SlowThreshold,
                DrainTimeout = settings.DrainTimeout,
            })
            .RegisterEvent<OrderPlaced>()
            .RegisterEvent<InvoiceIssued>()
            .UseWriteAheadLog(walDirectory, new JsonSerializerOptions { TypeInfoResolver = DemoJsonContext.Default }, new WriteAheadLogOptions { FlushMode = settings.FlushMode });
        var bus = Build(builder, walDirectory);
        await using (bus)
        {
            // Events a previous run on this directory left unfinished: re-handled as the pipeline subscribes.
            var recovered = bus.WriteAheadLog!.WaitingEvents;
            pipeline.SubscribeTo(bus);
            var publisher = new DemoPublisher(bus, settings, ledger, time);
            var monitor = new DemoMonitor(bus, settings, ledger, publisher, pipeline, walDirectory, time);

            var work = RunWorkloadAsync(bus, publisher, ledger, monitor, settings, interrupt);
            if (!settings.NoLive && io.CanRenderLive)
                await ShowLiveAsync(io.Console, monitor, work, time);
            else
                await ShowPlainAsync(io.Out, settings, walDirectory, monitor, work, time);

            var stop = await work;
            var statistics = bus.GetStatistics();
            var deadLetters = bus.DeadLetters.List();
            var summary = new DemoSummary
            {
                Interrupted = interrupt.IsCancellationRequested,
                Published = ledger.Published,
                Orders = ledger.Orders,
                Children = ledger.Children,
                Handled = ledger.Handled,
                Dropped = ledger.Dropped,
                Rejected = ledger.Rejected,
                DeadLettered = ledger.DeadLettered,
                Cancelled = ledger.Cancelled,
                Stop = stop,
                DrainTimeout = settings.DrainTimeout,
                CorrelatedChildren = pipeline.CorrelatedChildren,
                ChildrenNotPublished = pipeline.ChildrenNotPublished,
                Retried = statistics.Retried,
                ExampleDeadLetter = deadLetters.Count > 0 ? deadLetters[0] : null,
                WalDirectory = walDirectory,
                Recovered = recovered,
                Elapsed = monitor.Elapsed,
            };
            foreach (var line in summary.Lines())
                io.Out.WriteLine(line);
            io.Out.Flush();
            return ExitCodes.Success;
        }
    }

    private static async Task<StopReport> RunWorkloadAsync(IEventBus bus, DemoPublisher publisher, OutcomeLedger ledger, DemoMonitor monitor, DemoSettings settings, CancellationToken interrupt)
    {
        await publisher.RunAsync(interrupt);
        monitor.Phase = "draining";
        var report = await bus.StopAsync(settings.DrainTimeout, CancellationToken.None);
        await ledger.SettleAsync();
        monitor.Phase = "stopped";
        return report;
    }

    private static async Task ShowLiveAsync(IAnsiConsole console, DemoMonitor monitor, Task work, TimeProvider time)
    {
        await console.Live(LiveView.Render(monitor.Sample()))
            .AutoClear(false)
            .Overflow(VerticalOverflow.Ellipsis)
            .StartAsync(async context =>
            {
                while (!work.IsCompleted)
                {
                    await Task.WhenAny(work, Task.Delay(s_liveRefresh, time));
                    context.UpdateTarget(LiveView.Render(monitor.Sample()));
                    context.Refresh();
                }
            });
    }

    private static async Task ShowPlainAsync(TextWriter output, DemoSettings settings, string walDirectory, DemoMonitor monitor, Task work, TimeProvider time)
    {
        output.WriteLine(PlainView.Header(settings, walDirectory));
        output.Flush();
        while (!work.IsCompleted)
        {
            await Task.WhenAny(work, Task.Delay(s_plainInterval, time));
            output.WriteLine(PlainView.Line(monitor.Sample()));
            output.Flush();
        }
    }

    private static IEventBus Build(EventBusBuilder builder, string walDirectory)
    {
        try
        {
            return builder.Build();
        }
        catch (WalLockedException ex)
        {
            throw new UserErrorException($"the write-ahead log directory '{walDirectory}' is in use by another process (its lock file is held).", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"cannot open the write-ahead log in '{walDirectory}': {ex.Message}", ex);
        }
    }

    private static string PrepareWalDirectory(string? requested)
    {
        var directory = Path.GetFullPath(requested ?? Path.Combine(Path.GetTempPath(), "busbar-demo-" + Guid.NewGuid().ToString("N")[..8]));
        if (File.Exists(directory))
            throw new UserErrorException($"--wal '{directory}' is a file, not a directory.");
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"cannot create the write-ahead log directory '{directory}': {ex.Message}", ex);
        }

        return directory;
    }
}
