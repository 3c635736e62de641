using System.Globalization;

namespace Busbar.Cli.Demo;

/// <summary>
/// The demo's pace on this machine: the steady rate and the queue capacity, derived from how many
/// orders per second the pipeline finished in a short measurement run.
/// </summary>
/// <remarks>
/// The steady rate is 40% of the measured throughput, so between bursts the queue stays nearly
/// empty. The capacity makes a burst (twice the capacity) 0.3 of the gap between bursts in work, at
/// most 0.6 s of it; the 60% of throughput left over absorbs it in half the gap, so each burst and
/// the recovery after it fit before the next one (in a 10 s run: 0.6 s of work, absorbed in about a
/// second of the 2 s gap). A fixed rate cannot do this: on a slow or busy machine it pins the queue
/// full from the first burst to the end.
/// </remarks>
/// <param name="MeasuredOrdersPerSecond">Orders (each with its invoice) the pipeline finished per second in the measurement; 0 when nothing finished.</param>
internal sealed record DemoPace(double MeasuredOrdersPerSecond)
{
    /// <summary>Used when a measurement finished nothing (interrupted at once).</summary>
    public const int FallbackRate = 100;

    public const int FallbackCapacity = 64;

    /// <summary>The steady rate's share of the measured throughput.</summary>
    public const double RateShare = 0.4;

    /// <summary>A burst's work, as a share of the gap between bursts.</summary>
    public const double BurstShareOfGap = 0.3;

    /// <summary>A burst's work at most, in seconds of throughput.</summary>
    public const double MaxBurstSeconds = 0.6;

    private static readonly TimeSpan s_measureFor = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_warmUp = TimeSpan.FromSeconds(0.3);

    private bool Measured => MeasuredOrdersPerSecond > 0;

    /// <summary>Steady orders per second.</summary>
    public int Rate => Measured ? (int)Math.Clamp(Math.Round(MeasuredOrdersPerSecond * RateShare), 5, 100_000) : FallbackRate;

    /// <summary>The queue capacity for bursts <paramref name="burstGap"/> apart.</summary>
    public int CapacityFor(TimeSpan burstGap)
    {
        if (!Measured)
            return FallbackCapacity;
        var burstSeconds = Math.Min(MaxBurstSeconds, BurstShareOfGap * burstGap.TotalSeconds);
        return (int)Math.Clamp(Math.Round(MeasuredOrdersPerSecond * burstSeconds / 2), 8, 50_000);
    }

    /// <summary>
    /// Runs the demo's pipeline on a throwaway bus (same options and flush mode, its own temporary
    /// log) with the queue kept full for a second, and measures the orders finished per second after
    /// a short warm-up.
    /// </summary>
    /// <param name="request">The run's options: concurrency and flush mode, and the capacity if given.</param>
    /// <param name="directory">A temporary directory for the measurement's own log; removed at the end.</param>
    /// <param name="time">The clock.</param>
    /// <param name="cancellationToken">Ctrl+C: ends the measurement early.</param>
    public static async Task<DemoPace> MeasureAsync(DemoRequest request, string directory, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            var capacity = request.Capacity ?? FallbackCapacity;
            var bus = DemoBus.Build(capacity, BusFullMode.Wait, request.Concurrency, TimeSpan.Zero, directory, request.FlushMode);
            await using (bus)
            {
                var pipeline = new OrderPipeline(new OutcomeLedger());
                pipeline.SubscribeTo(bus);
                var start = time.GetTimestamp();
                long? warmProcessed = null;
                long warmAt = 0;
                long number = 0;
                while (!cancellationToken.IsCancellationRequested && time.GetElapsedTime(start) < s_measureFor)
                {
                    if (warmProcessed is null && time.GetElapsedTime(start) >= s_warmUp)
                    {
                        warmProcessed = bus.GetStatistics().Processed;
                        warmAt = time.GetTimestamp();
                    }

                    // Under Wait this returns when there is room: while the publisher outruns the handlers the queue
                    // stays full and the handlers never idle. If the log's fsyncs make the publisher the slower side
                    // (a slow disk under --flush always), this measures the publisher, which paces the run as well.
                    var order = OrderPipeline.CreateOrder(++number);
                    await bus.PublishAsync(order, new PublishOptions { OrderingKey = order.Customer }, CancellationToken.None);
                }

                var processed = bus.GetStatistics().Processed - (warmProcessed ?? 0);
                var seconds = time.GetElapsedTime(warmProcessed is null ? start : warmAt).TotalSeconds;

                // Every order is finished together with the invoice billing publishes for it: two events per order.
                var ordersPerSecond = seconds > 0 ? processed / 2.0 / seconds : 0;
                await bus.StopAsync(TimeSpan.Zero, CancellationToken.None);
                return new DemoPace(ordersPerSecond);
            }
        }
        finally
        {
            DemoBus.TryRemove(directory);
        }
    }

    /// <summary>One line for the header and the summary.</summary>
    public string Describe() => Measured
        ? string.Create(CultureInfo.InvariantCulture, $"paced to this machine: it finished {MeasuredOrdersPerSecond:F0} orders/s in a 1 s measurement")
        : "paced by default: the measurement finished no orders";
}
