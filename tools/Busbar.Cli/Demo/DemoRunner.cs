using System.Globalization;
using Spectre.Console;

namespace Busbar.Cli.Demo;

/// <summary>
/// Runs <c>busbar demo</c>: paces the run to the machine, builds the bus, starts the publisher, shows
/// progress (live or plain), and when the run is over or Ctrl+C arrives, stops the bus gracefully,
/// removes a temporary log and prints the summary. A second Ctrl+C restores the terminal, says how
/// many events are left in the log, and exits.
/// </summary>
internal static class DemoRunner
{
    private static readonly TimeSpan s_liveRefresh = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan s_plainInterval = TimeSpan.FromSeconds(1);

    /// <summary>How often the plain view looks at the queue between its lines, for the line's queue peak.</summary>
    private static readonly TimeSpan s_plainWatch = TimeSpan.FromMilliseconds(100);

    /// <param name="request">What the command line asked for.</param>
    /// <param name="io">Where to write.</param>
    /// <param name="interrupt">Ctrl+C or SIGTERM: stop publishing, then the same graceful shutdown; a second one forces the exit.</param>
    public static async Task<int> RunAsync(DemoRequest request, CliConsole io, CliInterrupt interrupt)
    {
        var time = TimeProvider.System;
        var temporary = request.WalDirectory is null;
        var walDirectory = PrepareWalDirectory(request.WalDirectory);
        var removed = false;
        try
        {
            DemoPace? pace = null;
            if (request.NeedsPacing)
            {
                io.Out.WriteLine("busbar demo: measuring what the pipeline finishes per second on this machine (1 s), to pace the run...");
                io.Out.Flush();
                var paceDirectory = DemoBus.TemporaryDirectory("pace");
                using var forced = interrupt.OnForced(() =>
                {
                    DemoBus.TryRemove(paceDirectory);
                    if (temporary)
                        DemoBus.TryRemove(walDirectory);
                    return "stopped while measuring the pace; nothing was published";
                });
                pace = await DemoPace.MeasureAsync(request, paceDirectory, time, interrupt.Token);
            }

            var settings = request.Resolve(pace);
            var summary = await RunBusAsync(settings, walDirectory, temporary, io, interrupt, time);
            string? removeError = null;
            if (temporary)
            {
                removeError = DemoBus.TryRemove(walDirectory);
                removed = removeError is null;
            }

            foreach (var line in (summary with { WalRemoveError = removeError }).Lines(io.LineWidth))
                io.Out.WriteLine(line);
            io.Out.Flush();
            return ExitCodes.Success;
        }
        finally
        {
            // A temporary log the run could not use (a failed start) goes too; a forced exit never gets here and keeps it.
            if (temporary && !removed)
                DemoBus.TryRemove(walDirectory);
        }
    }

    private static async Task<DemoSummary> RunBusAsync(DemoSettings settings, string walDirectory, bool temporary, CliConsole io, CliInterrupt interrupt, TimeProvider time)
    {
        var ledger = new OutcomeLedger();
        var pipeline = new OrderPipeline(ledger);
        var bus = DemoBus.Build(settings.Capacity, settings.FullMode, settings.Concurrency, settings.DrainTimeout, walDirectory, settings.FlushMode);
        await using (bus)
        {
            // Events a previous run on this directory left pending: re-handled as the pipeline subscribes.
            var recovered = bus.GetWriteAheadLogStatus()!.PendingEvents;
            pipeline.SubscribeTo(bus);
            var publisher = new DemoPublisher(bus, settings, ledger, time);
            var monitor = new DemoMonitor(bus, settings, ledger, publisher, pipeline, walDirectory, interrupt, time);
            var live = !settings.NoLive && io.CanRenderLive;
            var screen = new ScreenGate();
            using var forced = interrupt.OnForced(() =>
            {
                screen.Release(io, live);
                return DescribeForced(bus, walDirectory);
            });

            var work = RunWorkloadAsync(bus, publisher, ledger, monitor, settings, interrupt);
            if (live)
                await ShowLiveAsync(io.Console, monitor, work, screen, time);
            else
                await ShowPlainAsync(io.Out, settings, walDirectory, monitor, interrupt, work, time);

            var stop = await work;
            var statistics = bus.GetStatistics();
            var deadLetters = bus.DeadLetters.List();
            var final = monitor.Sample();
            return new DemoSummary
            {
                InterruptedBy = interrupt.Signal,
                Published = ledger.Published,
                Orders = ledger.Orders,
                Children = ledger.Children,
                Completed = ledger.Completed,
                Dropped = ledger.Dropped,
                Rejected = ledger.Rejected,
                DeadLettered = ledger.DeadLettered,
                Cancelled = ledger.Cancelled,
                Stop = stop,
                Settings = settings,
                Bursts = publisher.Bursts,
                CorrelatedChildren = pipeline.CorrelatedChildren,
                ChildrenNotPublished = pipeline.ChildrenNotPublished,
                RejectedRacingStop = DemoMonitor.RejectedRacingStop(statistics, ledger),
                Retried = statistics.Retried,
                ExampleDeadLetter = deadLetters.Count > 0 ? deadLetters[0] : null,
                WalDirectory = walDirectory,
                WalIsTemporary = temporary,
                Recovered = recovered,
                Elapsed = monitor.Elapsed,
                AverageThroughput = final.AverageThroughput,
            };
        }
    }

    private static async Task<StopReport> RunWorkloadAsync(IEventBus bus, DemoPublisher publisher, OutcomeLedger ledger, DemoMonitor monitor, DemoSettings settings, CliInterrupt interrupt)
    {
        await publisher.RunAsync(interrupt.Token);
        monitor.Phase = DemoPhase.Draining;
        var report = await bus.StopAsync(settings.DrainTimeout, CancellationToken.None);
        await ledger.SettleAsync();
        monitor.Phase = DemoPhase.Stopped;
        return report;
    }

    private static async Task ShowLiveAsync(IAnsiConsole console, DemoMonitor monitor, Task work, ScreenGate screen, TimeProvider time)
    {
        await console.Live(Frame(console, monitor))
            .AutoClear(false)
            .Overflow(VerticalOverflow.Ellipsis)
            .StartAsync(async context =>
            {
                void Draw()
                {
                    lock (screen.Gate)
                    {
                        // After a forced exit began, the terminal belongs to the exit line: no more frames.
                        if (screen.Released)
                            return;
                        context.UpdateTarget(Frame(console, monitor));
                        context.Refresh();
                    }
                }

                while (!work.IsCompleted)
                {
                    await Task.WhenAny(work, Task.Delay(s_liveRefresh, time));
                    Draw();
                }

                // The run may have stopped just after the last frame was taken: the final frame shows it stopped.
                Draw();
            });
    }

    private static Spectre.Console.Rendering.IRenderable Frame(IAnsiConsole console, DemoMonitor monitor) =>
        LiveView.Render(monitor.Sample(), console.Profile.Width, console.Profile.Height);

    private static async Task ShowPlainAsync(TextWriter output, DemoSettings settings, string walDirectory, DemoMonitor monitor, CliInterrupt interrupt, Task work, TimeProvider time)
    {
        output.WriteLine(PlainView.Header(settings, walDirectory));
        output.Flush();
        var reported = 0;
        var announced = false;
        while (!work.IsCompleted)
        {
            // A line a second, looking at the queue ten times in between: a burst that fills the queue and drains
            // within the second still shows, as the line's queue peak.
            var lineDue = time.GetTimestamp();
            while (!work.IsCompleted && time.GetElapsedTime(lineDue) < s_plainInterval)
            {
                await Task.WhenAny(work, Task.Delay(s_plainWatch, time));
                monitor.Watch();
            }

            if (!announced && interrupt.Signal is { } signal)
            {
                output.WriteLine($"{signal}: shutting down gracefully; Ctrl+C again forces the exit");
                announced = true;
            }

            var snapshot = monitor.Sample();
            output.WriteLine(PlainView.Line(snapshot));

            // A burst is reported once its outcome is settled: the queue recovered, the next burst came, or the run stopped.
            var bursts = snapshot.Bursts;
            for (; reported < bursts.Count; reported++)
            {
                var settled = bursts[reported].RecoveredAfter is not null || reported < bursts.Count - 1 || snapshot.Phase == DemoPhase.Stopped;
                if (!settled)
                    break;
                output.WriteLine(PlainView.Burst(bursts[reported]));
            }

            output.Flush();
        }
    }

    /// <summary>The forced exit's line: how many events the log holds pending, read from the log itself.</summary>
    private static string DescribeForced(IEventBus bus, string walDirectory)
    {
        string count;
        try
        {
            count = WriteAheadLogInspector.Inspect(walDirectory).PendingEvents.ToString(CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            count = "about " + bus.GetStatistics().InFlight.ToString(CultureInfo.InvariantCulture);
        }

        return $"{count} events pending in the write-ahead log {walDirectory} (kept); a bus that opens it handles them, e.g. busbar demo --wal {walDirectory}";
    }

    private static string PrepareWalDirectory(string? requested)
    {
        var directory = Path.GetFullPath(requested ?? DemoBus.TemporaryDirectory("demo"));
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

    /// <summary>Who may write to the terminal: the live view's frames, until a forced exit takes it over.</summary>
    private sealed class ScreenGate
    {
        /// <summary>How long a forced exit waits for a frame being drawn to finish.</summary>
        private static readonly TimeSpan s_frameWait = TimeSpan.FromSeconds(1);

        public Lock Gate { get; } = new();

        public bool Released { get; private set; }

        /// <summary>Stops the frames and gives the terminal back: cursor shown, on a fresh line.</summary>
        public void Release(CliConsole io, bool live)
        {
            var entered = Gate.TryEnter(s_frameWait);
            try
            {
                Released = true;
                if (live)
                {
                    // Written raw, not through the console: a console write would redraw the live view.
                    io.Out.Write("\u001b[?25h");
                    io.Out.WriteLine();
                }

                io.Out.Flush();
            }
            finally
            {
                if (entered)
                    Gate.Exit();
            }
        }
    }
}
