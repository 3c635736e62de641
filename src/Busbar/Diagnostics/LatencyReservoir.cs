namespace Busbar.Diagnostics;

/// <summary>The last 1,024 durations of one subscription, for percentile snapshots. Writers never lock.</summary>
internal sealed class LatencyReservoir
{
    private const int Size = 1024;
    private readonly long[] _ticks = new long[Size];
    private long _count;

    /// <remarks>
    /// Not atomic on purpose: two handlers of one subscription finishing at the same instant may
    /// overwrite one slot, which a percentile estimate tolerates; an interlocked add per invocation
    /// would cost more than the handler in the fast path.
    /// </remarks>
    public void Record(TimeSpan elapsed)
    {
        var index = _count++;
        _ticks[index & (Size - 1)] = elapsed.Ticks;
    }

    public HandlerLatency Summarize()
    {
        var count = Volatile.Read(ref _count);
        var n = (int)Math.Min(count, Size);
        if (n == 0)
            return new HandlerLatency(0, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);
        var copy = new long[n];
        Array.Copy(_ticks, copy, n);
        Array.Sort(copy);
        return new HandlerLatency(
            count,
            TimeSpan.FromTicks(copy[(n - 1) / 2]),
            TimeSpan.FromTicks(copy[Math.Min(n - 1, (int)Math.Ceiling(n * 0.99) - 1)]),
            TimeSpan.FromTicks(copy[n - 1]));
    }
}
