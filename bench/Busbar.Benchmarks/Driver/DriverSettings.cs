namespace Busbar.Benchmarks.Driver;

/// <summary>Counts and time limits for one driver run; <see cref="Dry"/> shrinks every count.</summary>
public sealed record DriverSettings(bool Dry)
{
    /// <summary>Queue capacity used by every bounded row.</summary>
    public int Capacity { get; } = 10_000;

    /// <summary>Events per measured round for the fast pipelines (channel, Dataflow, Busbar).</summary>
    public int FastEvents => Dry ? 20_000 : 1_000_000;

    /// <summary>Events per measured round for MassTransit's in-memory bus (~50 k/s here).</summary>
    public int MassTransitEvents => Dry ? 2_000 : 200_000;

    /// <summary>Events per measured round for Wolverine's local queue (~0.5 M/s here).</summary>
    public int WolverineEvents => Dry ? 2_000 : 500_000;

    /// <summary>Measured rounds per throughput row; the table reports the median.</summary>
    public int Rounds => Dry ? 1 : 3;

    /// <summary>
    /// Rounds of each transport throughput row (section h): more than <see cref="Rounds"/>, since a round takes under a second
    /// and the client shares two cores with the broker, so one slow round moves a median of three.
    /// </summary>
    public int TransportRounds => Dry ? 1 : 7;

    /// <summary>Sequential publish → await-handled round trips per latency row.</summary>
    public int LatencySamples => Dry ? 400 : 20_000;

    /// <summary>Events pushed into each overload scenario.</summary>
    public int OverloadEvents => Dry ? 20_000 : 1_000_000;

    /// <summary>Busy work per event in the overload scenario's slow handler.</summary>
    public TimeSpan SlowHandlerWork { get; } = TimeSpan.FromMicroseconds(1);

    /// <summary>Events per fan-out row.</summary>
    public int FanOutEvents => Dry ? 2_000 : 200_000;

    /// <summary>Hard cap on any one scenario; a row that hits it is reported as cut short.</summary>
    public TimeSpan ScenarioLimit => Dry ? TimeSpan.FromSeconds(30) : TimeSpan.FromSeconds(120);

    /// <summary>Events per publish round through Redis (raw windowed XADD ≈ 220–270 k/s here).</summary>
    public int RedisPublishEvents => Dry ? 300 : 100_000;

    /// <summary>Events per consume round from Redis (raw XREADGROUP + XACK ≈ 240–290 k/s here).</summary>
    public int RedisConsumeEvents => Dry ? 300 : 100_000;

    /// <summary>Events per publish round through NATS JetStream (raw windowed publish with a message id ≈ 52–56 k/s here).</summary>
    public int NatsPublishEvents => Dry ? 300 : 30_000;

    /// <summary>Events per consume round from NATS JetStream (raw pull-consume + ack ≈ 89 k/s here).</summary>
    public int NatsConsumeEvents => Dry ? 300 : 50_000;

    /// <summary>Sequential publish → handler samples per transport latency row, after <see cref="TransportLatencyWarmup"/>.</summary>
    public int TransportLatencySamples => Dry ? 20 : 2_000;

    /// <summary>Unmeasured publish → handler round trips per transport latency row before it is measured.</summary>
    public int TransportLatencyWarmup => Dry ? 5 : 200;

    /// <summary>Fresh processes per transport latency row in the fresh-process variant.</summary>
    public int TransportFreshProcesses => Dry ? 1 : 3;

    /// <summary>Samples per fresh process in the transport fresh-process variant (after <see cref="TransportFreshWarmup"/>).</summary>
    public int TransportFreshSamples => Dry ? 10 : 500;

    /// <summary>Unmeasured round trips per fresh process before it measures.</summary>
    public int TransportFreshWarmup => Dry ? 5 : 50;
}
