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
    private readonly TimeProvider _time;
    private readonly long _start;
    private long _lastSampleAt;
    private long _lastProcessed;
    private double _lastThroughput;
    private volatile string _phase = "publishing";

    public DemoMonitor(IEventBus bus, DemoSettings settings, OutcomeLedger ledger, DemoPublisher publisher, OrderPipeline pipeline, string walDirectory, TimeProvider time)
    {
        _bus = bus;
        _settings = settings;
        _ledger = ledger;
        _publisher = publisher;
        _pipeline = pipeline;
        _walDirectory = walDirectory;
        _time = time;
        _start = time.GetTimestamp();
        _lastSampleAt = _start;
    }

    public TimeSpan Elapsed => _time.GetElapsedTime(_start);

    public string Phase
    {
        get => _phase;
        set => _phase = value;
    }

    /// <summary>Takes a frame; throughput is measured since the previous call (the view calls this from one thread).</summary>
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

        return new DemoSnapshot
        {
            Settings = _settings,
            Elapsed = _time.GetElapsedTime(_start, now),
            Phase = _phase,
            Statistics = statistics,
            Throughput = _lastThroughput,
            Orders = _ledger.Orders,
            Children = _ledger.Children,
            Bursts = _publisher.Bursts,
            BurstSize = _publisher.BurstSize,
            PublisherWaited = _publisher.Waited,
            LastBurst = _publisher.LastBurst,
            CorrelatedChildren = _pipeline.CorrelatedChildren,
            WalDirectory = _walDirectory,
        };
    }
}
