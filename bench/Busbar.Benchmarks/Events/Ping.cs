namespace Busbar.Benchmarks.Events;

/// <summary>The small event every queued and delegate-based row publishes (24 bytes on x64).</summary>
[EventName("bench.ping")]
public sealed record Ping(int Value);
