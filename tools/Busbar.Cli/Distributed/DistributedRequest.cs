using Busbar.Cli.Broker;

namespace Busbar.Cli.Distributed;

/// <summary>What <c>busbar demo --transport URL</c> asked for, with its defaults resolved.</summary>
internal sealed record DistributedRequest
{
    public const int DefaultRate = 200;

    public const int MaxWorkers = 16;

    /// <summary>How long the demo waits, after the last publish, for the workers to finish every published event.</summary>
    public static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(20);

    public required BrokerUrl Broker { get; init; }

    /// <summary>Worker processes, 1 to <see cref="MaxWorkers"/>.</summary>
    public int Workers { get; init; } = 2;

    /// <summary>When to SIGKILL one worker, from the first publish; null for never.</summary>
    public TimeSpan? KillWorkerAfter { get; init; }

    /// <summary>Stop publishing after this many orders; null: publish for <see cref="PublishWindow"/>.</summary>
    public long? MaxOrders { get; init; }

    /// <summary>Orders per second.</summary>
    public int Rate { get; init; } = DefaultRate;

    /// <summary>
    /// How long orders are published: the <c>--duration</c> given; else, with <c>--events</c>, as long as publishing them at
    /// the rate takes; else 10 s.
    /// </summary>
    public required TimeSpan PublishWindow { get; init; }

    /// <summary>Events each worker handles at the same time.</summary>
    public int Concurrency { get; init; } = 4;

    public bool Json { get; init; }

    public bool NoLive { get; init; }
}
