namespace Busbar.Cli.Demo;

/// <summary>Samples the bus and the demo's counters into <see cref="DemoSnapshot"/> frames.</summary>
internal sealed class DemoMonitor
{
    private readonly IEventBus _bus;
    private readonly DemoSettings _settings;
    private readonly OutcomeLedger _ledger;
    private readonly DemoPublisher _publisher;
    private readonly OrderPipeline _pipeline;
    private readonly string _walDirectory;
    private readonly CliInterrupt _interrupt;
    private readonly TimeProvider _time;
    private readonly long _start;
    private long _lastSampleAt;
    private long _lastProcessed;
    private double _lastThroughput;
    private long _stoppedAt;
    private int _queuePeak;
    private volatile DemoPhase _phase;

    public DemoMonitor(IEventBus bus, DemoSettings settings, OutcomeLedger ledger, DemoPublisher publisher, OrderPipeline pipeline, string walDirectory, CliInterrupt interrupt, TimeProvider time)
    {
        _bus = bus;
        _settings = settings;
        _ledger = ledger;
        _publisher = publisher;
        _pipeline = pipeline;
        _walDirectory = walDirectory;
        _interrupt = interrupt;
        _time = time;
        _start = time.GetTimestamp();
        _lastSampleAt = _start;
    }

    public TimeSpan Elapsed => _time.GetElapsedTime(_start);

    public DemoPhase Phase
    {
        get => _phase;
        set
        {
            if (value == DemoPhase.Stopped)
                Interlocked.Exchange(ref _stoppedAt, _time.GetTimestamp());
            _phase = value;
        }
    }

    /// <summary>
    /// The bus's rejections the demo did not see as rejections: every other refusal (a full queue, a
    /// cancelled wait) reaches the demo as <see cref="BusFullException"/> or a rejected handle and is in the
    /// ledger, so what is left are publishes that raced the stop and ended in <see cref="BusStoppedException"/>.
    /// </summary>
    public static long RejectedRacingStop(BusStatistics statistics, OutcomeLedger ledger) => Math.Max(0, statistics.Rejected - ledger.Rejected);

    /// <summary>Looks at the queue between frames, so the next frame's <see cref="DemoSnapshot.QueuePeak"/> includes what it saw.</summary>
    public void Watch() => _queuePeak = Math.Max(_queuePeak, _bus.GetStatistics().QueueDepth);

    /// <summary>Takes a frame; throughput and the queue's peak are measured since the previous call (the view calls this and <see cref="Watch"/> from one flow).</summary>
    public DemoSnapshot Sample()
    {
        var statistics = _bus.GetStatistics();
        var now = _time.GetTimestamp();
        var seconds = _time.GetElapsedTime(_lastSampleAt, now).TotalSeconds;
        if (seconds >= 0.1)
        {
            _lastThroughput = (statistics.Processed - _lastProcessed) / seconds;
            _lastProcessed = statistics.Processed;
            _lastSampleAt = now;
        }

        // Once stopped, the clock of the average stops too: idle time after the stop is not part of the run.
        var queuePeak = Math.Max(_queuePeak, statistics.QueueDepth);
        _queuePeak = 0;
        var stoppedAt = Interlocked.Read(ref _stoppedAt);
        var runSeconds = _time.GetElapsedTime(_start, stoppedAt != 0 ? stoppedAt : now).TotalSeconds;
        return new DemoSnapshot
        {
            Settings = _settings,
            Elapsed = _time.GetElapsedTime(_start, now),
            Phase = _phase,
            InterruptedBy = _interrupt.Signal,
            Statistics = statistics,
            QueuePeak = queuePeak,
            Throughput = _lastThroughput,
            AverageThroughput = runSeconds > 0 ? statistics.Processed / runSeconds : 0,
            RejectedRacingStop = _phase == DemoPhase.Publishing ? 0 : RejectedRacingStop(statistics, _ledger),
            Orders = _ledger.Orders,
            Children = _ledger.Children,
            Bursts = _publisher.Bursts,
            CurrentBurst = _publisher.CurrentBurst,
            PublisherWaited = _publisher.Waited,
            CorrelatedChildren = _pipeline.CorrelatedChildren,
            WalDirectory = _walDirectory,
        };
    }
}
