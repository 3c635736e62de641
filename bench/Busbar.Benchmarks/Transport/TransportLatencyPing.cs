namespace Busbar.Benchmarks.Transport;

/// <summary>
/// The event of the publish → handler latency rows: its sequence number and the <see cref="System.Diagnostics.Stopwatch"/>
/// timestamp taken just before it was published (publisher and consumer share one process, so one clock).
/// </summary>
[EventName("bench.latency.ping")]
public sealed record TransportLatencyPing(long Sequence, long PublishedAt);
