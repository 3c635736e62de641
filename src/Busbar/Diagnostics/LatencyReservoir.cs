using System.Buffers;

namespace Busbar.Diagnostics;

/// <summary>The last 1,024 durations of one subscription, for percentile snapshots. Writers never lock.</summary>
/// <remarks>The 8 KB buffer is allocated by the first recording: a subscription that never runs (or a subscribe/dispose churn) does not pay for it.</remarks>
internal sealed class LatencyReservoir
{
    private const int Size = 1024;
    private long[]? _ticks;
    private long _count;

    // The last summary made; its Count is the recording count it was made at.
    private HandlerLatency? _last;

    /// <remarks>
    /// Not atomic on purpose: two handlers of one subscription finishing at the same instant may
    /// overwrite one slot, which a percentile estimate tolerates; an interlocked add per invocation
    /// would cost more than the handler in the fast path.
    /// </remarks>
    public void Record(TimeSpan elapsed)
    {
        var ticks = Volatile.Read(ref _ticks) ?? Allocate();
        var index = _count++;
        ticks[index & (Size - 1)] = elapsed.Ticks;
    }

    private long[] Allocate() => Interlocked.CompareExchange(ref _ticks, new long[Size], null) ?? _ticks!;

    /// <summary>The count, median, 99th percentile and maximum of the durations held (the last 1,024).</summary>
    /// <remarks>
    /// A subscription that recorded nothing since the last summary gets that summary again, so a dashboard polling
    /// <see cref="IEventBus.GetStatistics"/> sorts only the reservoirs of handlers that ran meanwhile; the sort works in a
    /// rented buffer, not a new 8 KB array per call.
    /// </remarks>
    public HandlerLatency Summarize()
    {
        var count = Volatile.Read(ref _count);
        if (Volatile.Read(ref _last) is { } last && last.Count == count)
            return last;
        var n = (int)Math.Min(count, Size);
        var ticks = Volatile.Read(ref _ticks);
        if (n == 0 || ticks is null)
            return new HandlerLatency(0, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);
        var copy = ArrayPool<long>.Shared.Rent(n);
        try
        {
            Array.Copy(ticks, copy, n);
            Array.Sort(copy, 0, n);
            var summary = new HandlerLatency(
                count,
                TimeSpan.FromTicks(copy[(n - 1) / 2]),
                TimeSpan.FromTicks(copy[Math.Min(n - 1, (int)Math.Ceiling(n * 0.99) - 1)]),
                TimeSpan.FromTicks(copy[n - 1]));
            Volatile.Write(ref _last, summary);
            return summary;
        }
        finally
        {
            ArrayPool<long>.Shared.Return(copy);
        }
    }
}
