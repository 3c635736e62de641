namespace Busbar.Benchmarks.Events;

/// <summary>The small event every queued and delegate-based row publishes (24 bytes on x64).</summary>
[EventName("bench.ping")]
public sealed record Ping(int Value);

/// <summary>The struct twin of <see cref="Ping"/> for the inline row that sends a value-type event.</summary>
[EventName("bench.ping-value")]
public readonly record struct PingValue(int Value);
