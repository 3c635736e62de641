namespace Busbar.Cli.Demo;

/// <summary>What the <c>busbar demo</c> command line asked for; null where the demo picks the value itself.</summary>
internal sealed record DemoRequest
{
    /// <summary>Null: 10 s, or enough for <see cref="MaxOrders"/> at the rate.</summary>
    public TimeSpan? Duration { get; init; }

    public long? MaxOrders { get; init; }

    /// <summary>Null: paced to the machine from a short measurement (<see cref="DemoPace"/>).</summary>
    public int? Rate { get; init; }

    /// <summary>Null: sized to the machine from the same measurement.</summary>
    public int? Capacity { get; init; }

    public BusFullMode FullMode { get; init; } = BusFullMode.Wait;

    public int Concurrency { get; init; } = 4;

    /// <summary>Null: a temporary directory, removed after the run.</summary>
    public string? WalDirectory { get; init; }

    public WalFlushMode FlushMode { get; init; } = WalFlushMode.Always;

    public bool NoLive { get; init; }

    /// <summary>Whether the rate or the capacity has to be measured on this machine first.</summary>
    public bool NeedsPacing => Rate is null || Capacity is null;

    /// <summary>The settings for a run, with the measured pace filling what the command line left open.</summary>
    /// <remarks>The rate comes first (the default duration with <c>--events</c> depends on it), then the capacity, which depends on the gap between bursts.</remarks>
    public DemoSettings Resolve(DemoPace? pace)
    {
        var rate = Rate ?? pace?.Rate ?? DemoPace.FallbackRate;
        var settings = new DemoSettings
        {
            Duration = Duration ?? DefaultDuration(MaxOrders, rate),
            MaxOrders = MaxOrders,
            Rate = rate,
            FullMode = FullMode,
            Concurrency = Concurrency,
            WalDirectory = WalDirectory,
            FlushMode = FlushMode,
            NoLive = NoLive,
            Pace = pace,
        };
        return settings with { Capacity = Capacity ?? pace?.CapacityFor(settings.BurstGap) ?? DemoPace.FallbackCapacity };
    }

    /// <summary>With only <c>--events</c>, leave room to publish them at the rate, plus a quarter for bursts that wait, plus the drain.</summary>
    private static TimeSpan DefaultDuration(long? maxOrders, int rate) =>
        maxOrders is { } n ? TimeSpan.FromSeconds(Math.Min(86_400, 2 + (1.25 * n / rate))) : TimeSpan.FromSeconds(10);
}
