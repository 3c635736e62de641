using System.Globalization;
using Busbar.Cli.Demo;
using Busbar.Transport;
using NATS.Client.Core;
using Spectre.Console;
using StackExchange.Redis;

namespace Busbar.Cli.Distributed;

/// <summary>
/// Runs <c>busbar demo --transport URL --workers N</c>: connects to the broker in a namespace of its own, starts N worker
/// processes that consume one group through the bus, publishes orders at the rate, SIGKILLs one worker if asked, waits
/// until every published event is handled or dead-lettered (bounded), stops the workers, and proves the accounting:
/// published = handled + dead-lettered, with the events handled twice listed.
/// </summary>
internal sealed class DistributedRunner
{
    private const int MaxBatch = 100;

    private static readonly TimeSpan s_liveRefresh = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan s_plainInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_startLimit = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_stopGrace = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan s_publishTick = TimeSpan.FromMilliseconds(10);

    /// <summary>How long after <c>--kill-worker-after</c> the kill may wait for a worker that is in the middle of events.</summary>
    private static readonly TimeSpan s_killWindow = TimeSpan.FromSeconds(2);

    /// <summary>How long a worker must have held events for the kill to take it (see <see cref="KillOneAsync"/>).</summary>
    private static readonly TimeSpan s_heldFor = TimeSpan.FromMilliseconds(50);

    private readonly DistributedRequest _request;
    private readonly CliConsole _io;
    private readonly CliInterrupt _interrupt;
    private readonly TimeProvider _time;
    private readonly DemoNamespace _space = DemoNamespace.Create();
    private readonly DistributedLedger _ledger;
    private readonly List<WorkerProcess> _workers = [];
    private long _started;
    private volatile string _phase = "starting workers";
    private volatile KillReport? _kill;
    private volatile string? _publishError;

    private DistributedRunner(DistributedRequest request, CliConsole io, CliInterrupt interrupt, TimeProvider time)
    {
        _request = request;
        _io = io;
        _interrupt = interrupt;
        _time = time;
        _ledger = new DistributedLedger(request.Workers);
    }

    private TimeSpan Elapsed => _started == 0 ? TimeSpan.Zero : _time.GetElapsedTime(_started);

    public static Task<int> RunAsync(DistributedRequest request, CliConsole io, CliInterrupt interrupt) =>
        new DistributedRunner(request, io, interrupt, TimeProvider.System).RunAsync();

    private async Task<int> RunAsync()
    {
        // Connecting first: a broker that does not answer is one line (with how to start a local one), exit 1.
        var transport = await _space.ConnectAsync(_request.Broker, consumer: null, _interrupt.Token);
        using var forced = _interrupt.OnForced(() =>
        {
            foreach (var worker in _workers)
                worker.Kill();
            return $"{_workers.Count} workers killed; the run's events stay on the broker under {Where()}";
        });
        DistributedSummary summary;
        try
        {
            summary = await RunWorkersAsync(transport);
        }
        finally
        {
            foreach (var worker in _workers)
                worker.Dispose();
            await transport.DisposeAsync();
        }

        // Everyone is disconnected: remove the run's streams, so demo runs do not pile up on the broker.
        summary = summary with { NamespaceRemoveError = await DemoNamespaceCleanup.RemoveAsync(_request.Broker, _space, CancellationToken.None) };
        if (_request.Json)
        {
            _io.Out.WriteLine(summary.Json());
        }
        else
        {
            foreach (var line in summary.Lines(_io.LineWidth))
                _io.Out.WriteLine(line);
        }

        _io.Out.Flush();
        return summary.ExitCode;
    }

    private async Task<DistributedSummary> RunWorkersAsync(IEventTransport transport)
    {
        StartWorkers();
        await WaitUntilReadyAsync();
        _started = _time.GetTimestamp();
        _phase = "publishing";
        // The demo publishes on a bus of its own over the same transport: no subscriptions, so it only publishes.
        var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Name = "demo", Capacity = MaxBatch * 4 })
            .WithTimeProvider(_time)
            .UseTransport(transport, DemoNamespace.Registry(), new TransportBusOptions { Group = "demo-publisher" })
            .Build();
        await using var publisher = bus;
        var work = RunWorkloadAsync(bus);
        if (_request.Json)
            await work;
        else if (!_request.NoLive && _io.CanRenderLive)
            await ShowLiveAsync(work);
        else
            await ShowPlainAsync(work);
        await work;

        // Every worker's output is read to its end now: what the killed one reported receiving and never finishing
        // is exact (at the kill, its last lines may not have been read yet).
        if (_kill is { } kill)
            _kill = kill with { HeldUnsettled = _ledger.Workers()[kill.Worker - 1].InFlight };
        return new DistributedSummary
        {
            Request = _request,
            Broker = _request.Broker.Display,
            Namespace = Where(),
            InterruptedBy = _interrupt.Signal,
            Elapsed = Elapsed,
            Account = _ledger.Account(),
            Workers = Rows(),
            Kill = _kill,
            PublishError = _publishError,
            BrokerDeadLetters = await ReadDeadLetterIdsAsync(transport),
        };
    }

    private void StartWorkers()
    {
        var broker = _request.Broker;
        var environment = new Dictionary<string, string>();
        if (broker.Password is { } password)
            environment[WorkerCommand.PasswordVariable] = password;
        var url = broker.Display;
        for (var number = 1; number <= _request.Workers; number++)
        {
            string[] arguments =
            [
                WorkerCommand.Name, url,
                "--run", _space.RunId,
                "--worker", number.ToString(CultureInfo.InvariantCulture),
                "--concurrency", _request.Concurrency.ToString(CultureInfo.InvariantCulture),
            ];
            try
            {
                _workers.Add(WorkerProcess.Start(number, arguments, environment, _ledger.Apply));
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                throw new UserErrorException($"cannot start worker {number} ({WorkerProcess.SelfCommand().FileName}): {ex.Message}", ex);
            }
        }
    }

    private async Task WaitUntilReadyAsync()
    {
        if (!_request.Json)
        {
            _io.Out.WriteLine(Invariant($"busbar demo: starting {_request.Workers} workers on {_request.Broker.Display} ({Where()})..."));
            _io.Out.Flush();
        }

        var begun = _time.GetTimestamp();
        while (true)
        {
            var tallies = _ledger.Workers();
            if (tallies.All(static t => t.Ready))
                return;
            foreach (var worker in _workers)
            {
                if (worker.HasExited && !tallies[worker.Number - 1].Ready)
                    throw new UserErrorException($"{worker} exited with code {worker.ExitCode} before it was ready: {Tail(worker)}");
            }

            if (_time.GetElapsedTime(begun) > s_startLimit)
            {
                var late = _workers.First(w => !tallies[w.Number - 1].Ready);
                throw new UserErrorException(Invariant($"{late} was not ready after {s_startLimit.TotalSeconds:F0} s: {Tail(late)}"));
            }

            _interrupt.Token.ThrowIfCancellationRequested();

            // A poll interval, not synchronisation: the loop ends on the condition or the limit.
            await Task.Delay(TimeSpan.FromMilliseconds(20), _time, _interrupt.Token);
        }

        static string Tail(WorkerProcess worker) => worker.ErrorTail is { Length: > 0 } tail ? tail : "no output on standard error";
    }

    private async Task RunWorkloadAsync(IEventBus bus)
    {
        var killing = _request.KillWorkerAfter is { } after ? KillOneAsync(after) : Task.CompletedTask;
        await PublishAsync(bus);
        await bus.StopAsync(TimeSpan.FromSeconds(5), CancellationToken.None);

        // Settle: every published event handled or dead-lettered (a killed worker's come back after the lease), and the
        // kill done; bounded. A Ctrl+C only stopped the publishing: this is the graceful part (a second one forces the exit).
        _phase = "settling";
        var settling = _time.GetTimestamp();
        while ((_ledger.Unsettled > 0 || !killing.IsCompleted) && _time.GetElapsedTime(settling) < DistributedRequest.SettleLimit)
        {
            await Task.WhenAny(killing, Task.Delay(TimeSpan.FromMilliseconds(20), _time));
        }

        _phase = "stopping workers";
        await Task.WhenAll(_workers.Select(static w => w.StopAsync(s_stopGrace)));
        await killing;
        _phase = "stopped";
    }

    /// <summary>
    /// Publishes the orders at the rate, in batches: each order's handle completes when the broker accepted it, and only
    /// accepted orders count as published.
    /// </summary>
    private async Task PublishAsync(IEventBus bus)
    {
        var rate = _request.Rate;
        long published = 0;
        var batch = new List<(Guid Id, EventHandle Handle)>(MaxBatch);
        while (!_interrupt.Token.IsCancellationRequested)
        {
            var elapsed = Elapsed;
            if (elapsed >= _request.PublishWindow || published >= _request.MaxOrders)
                return;
            var due = Math.Min((long)(elapsed.TotalSeconds * rate) + 1, _request.MaxOrders ?? long.MaxValue);
            if (due <= published)
            {
                await Task.Delay(s_publishTick, _time);
                continue;
            }

            batch.Clear();
            try
            {
                for (var number = published + 1; number <= due && batch.Count < MaxBatch; number++)
                {
                    var id = Guid.CreateVersion7();
                    var handle = await bus.PublishAsync(OrderPipeline.CreateOrder(number), new PublishOptions { EventId = id, CorrelationId = id }, CancellationToken.None);
                    batch.Add((id, handle));
                }
            }
            catch (Exception ex) when (ex is BusFullException or BusStoppedException)
            {
                _publishError = $"publishing order {published + batch.Count + 1} failed: {ex.Message}";
            }

            foreach (var (id, handle) in batch)
            {
                var outcome = await handle;
                if (outcome.IsSuccess)
                {
                    _ledger.Published([id]);
                    published++;
                }
                else
                {
                    // Not counted: the broker did not accept it (it may still be stored; a worker that handles it shows as
                    // "unexpected" in the summary). The run settles what was accepted and fails.
                    _publishError ??= $"the broker did not accept order {published + 1}: {outcome.Status}";
                }
            }

            if (_publishError is not null)
                return;
        }
    }

    private async Task KillOneAsync(TimeSpan after)
    {
        var wait = after - Elapsed;
        if (wait > TimeSpan.Zero)
        {
            // A Ctrl+C before the kill calls it off: the run is winding down.
            try
            {
                await Task.Delay(wait, _time, _interrupt.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        // Mid-work: a worker that is still busy with events it received a while ago (at least s_heldFor, much longer than
        // the demo lags behind a worker's output, so they are really unsettled at the kill). Looked for during at most
        // s_killWindow; then the worker that seems to hold the most is killed anyway.
        var looking = _time.GetTimestamp();
        var looks = new Queue<(long At, IReadOnlyList<WorkerTally> Tallies)>();
        while (true)
        {
            var now = _time.GetTimestamp();
            var tallies = _ledger.Workers();
            looks.Enqueue((now, tallies));
            while (looks.Count > 1 && _time.GetElapsedTime(looks.Peek().At, now) > s_heldFor * 2)
                looks.Dequeue();
            var earlier = looks.Peek();
            var alive = _workers.Where(static w => !w.HasExited).ToList();
            if (alive.Count == 0)
                return;

            WorkerProcess? victim = null;
            long held = 0;
            if (_time.GetElapsedTime(earlier.At, now) >= s_heldFor)
            {
                foreach (var worker in alive)
                {
                    var before = earlier.Tallies[worker.Number - 1];
                    var still = before.Received - Settled(tallies[worker.Number - 1]);
                    if (still > held)
                        (victim, held) = (worker, still);
                }
            }

            var expired = _time.GetElapsedTime(looking) >= s_killWindow || _interrupt.Token.IsCancellationRequested;
            if (victim is null && expired)
            {
                victim = alive.MaxBy(w => tallies[w.Number - 1].InFlight)!;
                held = tallies[victim.Number - 1].InFlight;
            }

            if (victim is not null)
            {
                victim.Kill();
                _kill = new KillReport(victim.Number, victim.Pid, Elapsed, held);
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), _time);
        }

        static long Settled(WorkerTally t) => t.Handled + t.DeadLettered + t.Released;
    }

    private async Task<IReadOnlyList<Guid>?> ReadDeadLetterIdsAsync(IEventTransport transport)
    {
        try
        {
            var letters = await transport.ReadDeadLettersAsync(100_000, CancellationToken.None);
            var ids = new List<Guid>(letters.Count);
            foreach (var letter in letters)
            {
                if (EnvelopeCodec.ReadMetadata(letter.Envelope, out _, out _) is { } envelope)
                    ids.Add(envelope.EventId);
            }

            return ids;
        }
        catch (Exception ex) when (ex is RedisException or NatsException or TimeoutException)
        {
            return null;
        }
    }

    private DistributedSnapshot Snapshot() => new()
    {
        Broker = _request.Broker.Display,
        Phase = _interrupt.Signal is { } signal && _phase != "stopped" ? $"{_phase} after {signal}" : _phase,
        Elapsed = Elapsed,
        OrdersPublished = _ledger.Orders,
        Unsettled = _ledger.Unsettled,
        Workers = Rows(),
        Kill = _kill,
        KillDue = _kill is null ? _request.KillWorkerAfter : null,
    };

    private List<WorkerRow> Rows()
    {
        var tallies = _ledger.Workers();
        return [.. _workers.Select(w => new WorkerRow(tallies[w.Number - 1], w.Pid, State(w, tallies[w.Number - 1])))];
    }

    private static string State(WorkerProcess worker, WorkerTally tally) =>
        worker.Killed ? "killed (SIGKILL)"
        : worker.ExitCode is { } code ? code == 0 ? "stopped" : Invariant($"exited ({code})")
        : tally.Ready ? "running" : "starting";

    private string Where() => _request.Broker.IsRedis
        ? $"keys {_space.RedisKeyPrefix}*"
        : $"streams {_space.NatsStreamName} and {_space.NatsStreamName}_DEAD";

    private async Task ShowLiveAsync(Task work)
    {
        await _io.Console.Live(DistributedView.Render(Snapshot()))
            .AutoClear(false)
            .Overflow(VerticalOverflow.Ellipsis)
            .StartAsync(async context =>
            {
                while (!work.IsCompleted)
                {
                    await Task.WhenAny(work, Task.Delay(s_liveRefresh, _time));
                    context.UpdateTarget(DistributedView.Render(Snapshot()));
                    context.Refresh();
                }
            });
    }

    private async Task ShowPlainAsync(Task work)
    {
        _io.Out.WriteLine(DistributedView.Header(_request, Where()));
        _io.Out.Flush();
        var killShown = false;
        while (!work.IsCompleted)
        {
            await Task.WhenAny(work, Task.Delay(s_plainInterval, _time));
            var snapshot = Snapshot();
            if (!killShown && snapshot.Kill is { } kill)
            {
                _io.Out.WriteLine(DistributedView.KillLine(kill));
                killShown = true;
            }

            _io.Out.WriteLine(DistributedView.Line(snapshot));
            _io.Out.Flush();
        }
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
