namespace Busbar.Cli.Demo;

/// <summary>One frame of the demo's progress: the bus's statistics plus what the demo itself counts.</summary>
internal sealed record DemoSnapshot
{
    public required DemoSettings Settings { get; init; }

    public required TimeSpan Elapsed { get; init; }

    /// <summary>"publishing", "draining" or "stopped".</summary>
    public required string Phase { get; init; }

    public required BusStatistics Statistics { get; init; }

    /// <summary>Events the bus finished per second since the previous frame.</summary>
    public required double Throughput { get; init; }

    public required long Orders { get; init; }

    public required long Children { get; init; }

    public required int Bursts { get; init; }

    public required int BurstSize { get; init; }

    public required TimeSpan PublisherWaited { get; init; }

    public string? LastBurst { get; init; }

    public required long CorrelatedChildren { get; init; }

    public required string WalDirectory { get; init; }
}
