using System.Diagnostics;

namespace Busbar.Benchmarks.Driver;

/// <summary>A handler body that is slower than any producer here: it spins for a fixed time.</summary>
public static class SlowWork
{
    public static void Spin(TimeSpan duration)
    {
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < end)
        {
            Thread.SpinWait(1);
        }
    }
}
