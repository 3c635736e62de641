namespace Busbar.Cli.Demo;

/// <summary>What <c>busbar demo</c> runs: the command line with every default resolved.</summary>
internal sealed record DemoSettings
{
    /// <summary>The whole run, publishing and graceful shutdown together.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Stop publishing after this many orders (bursts included); null publishes until the duration is spent.</summary>
    public long? MaxOrders { get; init; }

    /// <summary>Steady orders per second between bursts.</summary>
    public int Rate { get; init; } = DemoPace.FallbackRate;

    /// <summary>The bus queue capacity; each burst publishes twice this many orders.</summary>
    public int Capacity { get; init; } = DemoPace.FallbackCapacity;

    public BusFullMode FullMode { get; init; } = BusFullMode.Wait;

    /// <summary>Events handled at the same time (<see cref="EventBusOptions.MaxConcurrentEvents"/>).</summary>
    public int Concurrency { get; init; } = 4;

    /// <summary>The write-ahead log directory the user chose; null for a temporary one, removed after the run.</summary>
    public string? WalDirectory { get; init; }

    /// <summary>When a durable publish completes: after its fsync (the default), after a write with a periodic fsync, or with no fsync.</summary>
    public WalFlushMode FlushMode { get; init; } = WalFlushMode.Always;

    /// <summary>Plain line output even on an interactive terminal.</summary>
    public bool NoLive { get; init; }

    /// <summary>The measurement the rate or capacity came from; null when both were given.</summary>
    public DemoPace? Pace { get; init; }

    /// <summary>Each burst publishes this many orders at once: twice the capacity, so every full mode has work to do.</summary>
    public int BurstSize => Capacity * 2;

    /// <summary>
    /// How long the graceful shutdown may drain: a fifth of the run, at most two seconds, so the whole
    /// demo stays within <see cref="Duration"/> when the handlers keep up.
    /// </summary>
    public TimeSpan DrainTimeout => TimeSpan.FromTicks(Math.Min(Duration.Ticks / 5, TimeSpan.FromSeconds(2).Ticks));

    /// <summary>How long orders are published before the shutdown starts.</summary>
    public TimeSpan PublishWindow => Duration - DrainTimeout;

    /// <summary>Time between bursts (and from the start to the first): the bursts split the publish window in four.</summary>
    public TimeSpan BurstGap => PublishWindow / (DemoPublisher.BurstCount + 1);
}
