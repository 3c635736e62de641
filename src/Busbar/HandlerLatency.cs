namespace Busbar;

/// <summary>Latency figures of one subscription, from a bounded reservoir of recent invocations.</summary>
/// <param name="Count">Invocations measured since start.</param>
/// <param name="P50">Median duration.</param>
/// <param name="P99">99th percentile duration.</param>
/// <param name="Max">Longest recent duration.</param>
public sealed record HandlerLatency(long Count, TimeSpan P50, TimeSpan P99, TimeSpan Max);
