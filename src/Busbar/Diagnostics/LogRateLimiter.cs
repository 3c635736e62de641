namespace Busbar.Diagnostics;

/// <summary>
/// Lets one log through per interval and counts the ones it held back, so a storm of drops cannot
/// flood the log: the next log that passes reports how many were suppressed. Lock-free.
/// </summary>
internal sealed class LogRateLimiter(TimeProvider timeProvider, TimeSpan interval)
{
    private readonly long _intervalTicks = (long)(interval.TotalSeconds * timeProvider.TimestampFrequency);
    private long _next = long.MinValue;
    private long _suppressed;

    /// <summary>True when this log may be written; <paramref name="suppressed"/> is then how many were held back since the last one.</summary>
    public bool TryAcquire(out long suppressed)
    {
        var now = timeProvider.GetTimestamp();
        var next = Volatile.Read(ref _next);
        if (now >= next && Interlocked.CompareExchange(ref _next, now + _intervalTicks, next) == next)
        {
            suppressed = Interlocked.Exchange(ref _suppressed, 0);
            return true;
        }

        Interlocked.Increment(ref _suppressed);
        suppressed = 0;
        return false;
    }
}
