using System.Diagnostics;

namespace Busbar.Tests;

/// <summary>Allocation measurements for the zero-allocation claims of the inline paths.</summary>
internal static class Allocations
{
    /// <summary>
    /// What one round of synchronous sends allocates on this thread once tiered compilation has settled: rounds repeat (at most
    /// 100,000 of them, 20 s) until one allocates nothing, and the last round's bytes are returned. Unoptimized (tier-0) code of a
    /// generic method may box a struct argument that optimized code passes as is, so a round's first calls can allocate.
    /// </summary>
    public static long SteadyRoundBytes(Action round)
    {
        var deadline = Stopwatch.GetTimestamp() + (20 * Stopwatch.Frequency);
        var rounds = 0;
        long bytes;
        do
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            round();
            bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        }
        while (bytes != 0 && ++rounds < 100_000 && Stopwatch.GetTimestamp() < deadline);
        return bytes;
    }
}
