using Busbar.Diagnostics;
using Busbar.Durability;
using Busbar.Engine;
using Busbar.Routing;
using Busbar.Serialization;
using Microsoft.Extensions.Logging;

namespace Busbar.Dispatch;

/// <summary>
/// The bus. An event goes: <see cref="PublishAsync{T}"/> → <see cref="CreateContext"/> (validate,
/// name, ids) → <see cref="Admit"/> into the <see cref="EventQueue"/> → a worker of
/// <see cref="EventWorkers"/> → <see cref="EventDispatcher.DispatchAsync"/> → handlers → the source's
/// <see cref="LocalSettler"/>. Inline dispatch skips the queue and calls the dispatcher directly.
/// </summary>
internal sealed partial class InProcessEventBus : IEventBus
{
    private static int s_unnamed;

    // The grace periods after cancellation are a safety net against handlers and disks that never
    // return, so they run on the real clock: a fake clock a test forgot to advance must not be able
    // to hang shutdown. The drain timeout itself is on the bus's TimeProvider.
    private static readonly TimeSpan s_cancelGrace = TimeSpan.FromSeconds(5);
    private static readonly TimeProvider s_safetyClock = TimeProvider.System;

    private readonly EventQueue _queue;
    private readonly EventWorkers _workers;
    private readonly EventHistory _history;
    private readonly DeadLetterStore _deadLetters;
    private readonly BusValidation _validation;
    private readonly CancellationTokenSource _stopCts = new();
    private readonly CancellationToken _stopToken;
    private readonly int _overflowLimit;
    private readonly object _stopLock = new();
    private Task<StopReport>? _stopTask;
    private readonly InFlightCounter _inFlight = new();
    private readonly EventDispatcher _dispatcher;
    private readonly LocalSettler _queuedSettler;
    private readonly LocalSettler _inlineSettler;
    private readonly LocalSettler? _loggedSettler;
    private readonly QueueSource _queueSource;
    private readonly EventNameRegistry? _eventNames;
    private readonly Durability.WriteAheadLog? _log;
    private readonly WalRecorder? _walRecorder;
    private readonly WalRecovery? _recovery;
    private int _appending;
    private TaskCompletionSource? _appendsDone;

    public InProcessEventBus(EventBusOptions options, TimeProvider timeProvider, ILoggerFactory? loggerFactory, BusValidation validation, DurabilitySetup? durability = null, MiddlewarePipeline? middleware = null)
    {
        options.Validate();
        Options = options;
        Name = options.Name ?? $"bus-{Interlocked.Increment(ref s_unnamed)}";
        TimeProvider = timeProvider;
        Logger = loggerFactory?.CreateLogger("Busbar") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        Metrics = new BusMetrics(Name);
        Router = new Router();
        EventLogger = new EventLogger(Logger, timeProvider);
        _stopToken = _stopCts.Token;
        _dispatcher = new EventDispatcher(options, timeProvider, Logger, new DispatchTelemetry(Metrics, EventLogger, options.SlowHandlerThreshold), _stopToken, middleware);
        _validation = validation;
        _queue = new EventQueue(options.Capacity, options.MaxConcurrentEvents, _inFlight);
        _overflowLimit = options.Capacity > int.MaxValue / 2 ? int.MaxValue : options.Capacity * 2;
        _history = new EventHistory(options.HistoryCapacity);
        if (durability is not null)
        {
            // The bus's registry of event names: the builder's registered events, then every type published or
            // subscribed, so payloads read back from the log find their type.
            _eventNames = new EventNameRegistry();
            foreach (var type in durability.KnownTypes)
                _eventNames.Add(type);
            var payloads = new PayloadSerializer(_eventNames, durability.Json, "the write-ahead log");
            _log = Durability.WriteAheadLog.Open(durability.Directory, durability.Options, timeProvider, Logger);
            _walRecorder = new WalRecorder(_log, payloads, Logger);
            _recovery = new WalRecovery(_log.Recovery, payloads, Name, timeProvider);
        }

        // The store and the re-drive refer to each other (a re-drive that fails again is a dead letter again): the store
        // calls the re-driver, created below with the settlers, only when a caller of the built bus asks for a re-drive.
        Redriver? redriver = null;
        _deadLetters = new DeadLetterStore(
            options.DeadLetterCapacity, timeProvider, Metrics, Name, Router,
            (letter, subscription, cancellationToken) => redriver!.RedriveAsync(letter, subscription, cancellationToken),
            _walRecorder is { } recorder ? recorder.OnDeadLetterRemoved : static _ => { });
        if (_recovery is not null)
        {
            foreach (var letter in _recovery.DeadLetters)
            {
                // The letter's context is data this bus now holds: bound so a re-drive's handlers see this bus as EventContext.Bus.
                letter.Context.BindTo(this);
                _deadLetters.AddRecovered(letter);
            }

            if (_recovery.WaitingCount > 0)
                LogMessages.RecoveryWaiting(Logger, _log!.Directory, _recovery.UnfinishedCount, string.Join(", ", _recovery.Waiting.Keys));
        }

        _queuedSettler = new LocalSettler(_deadLetters, null, Metrics, _inFlight, deadLetterFailures: true);
        _inlineSettler = new LocalSettler(_deadLetters, null, Metrics, null, options.DeadLetterInlineFailures);
        var redriveSettler = new LocalSettler(_deadLetters, null, Metrics, null, deadLetterFailures: true);
        LocalSettler? loggedRedriveSettler = null;
        if (_walRecorder is not null)
        {
            _loggedSettler = new LocalSettler(_deadLetters, _walRecorder, Metrics, _inFlight, deadLetterFailures: true);
            loggedRedriveSettler = new LocalSettler(_deadLetters, _walRecorder, Metrics, null, deadLetterFailures: true);
        }

        redriver = new Redriver(_dispatcher, Router, redriveSettler, _walRecorder, loggedRedriveSettler, _recovery, Name);

        // The gauges read the queue and the in-flight count, never the bus under construction.
        var queue = _queue;
        var inFlight = _inFlight;
        Metrics.ObserveQueue(() => queue.Count, () => inFlight.Value);
        _queueSource = new QueueSource(_dispatcher, Router, _queuedSettler, Metrics, EventLogger, timeProvider);
        _workers = new EventWorkers(_queue, options.MaxConcurrentEvents, _queueSource.ProcessAsync, _queueSource.Fault);
        _workers.Start();
    }

    public string Name { get; }

    public EventBusOptions Options { get; }

    public IDeadLetterStore DeadLetters => _deadLetters;

    internal TimeProvider TimeProvider { get; }

    internal ILogger Logger { get; }

    internal BusMetrics Metrics { get; }

    internal Router Router { get; }

    internal CancellationToken StopToken => _stopCts.Token;

    /// <summary>Workers waiting for an event now (for tests: time that passes while every worker waits is idle time).</summary>
    internal int WaitingWorkers => _queue.WaitingReaders;

    public override string ToString() => Name;

    private static class EventNameCache<T>
    {
        private static string? s_name;

        public static string Name => s_name ??= EventNaming.GetName(typeof(T));
    }
}
