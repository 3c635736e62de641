namespace Busbar.Benchmarks.Driver;

/// <summary>
/// Samples <see cref="Environment.WorkingSet"/> on a background loop and keeps the peak, so a
/// scenario's peak growth is measured against the working set it started from (the process-wide
/// <c>PeakWorkingSet64</c> would carry the peak of an earlier scenario).
/// </summary>
public sealed class WorkingSetSampler : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _peak;

    private WorkingSetSampler()
    {
        // An aggressive, compacting collection gives memory back to the OS, so the baseline is not
        // inflated by heap an earlier scenario grew and the GC kept.
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Baseline = Environment.WorkingSet;
        _peak = Baseline;
        _loop = Task.Run(SampleAsync);
    }

    /// <summary>Working set after an aggressive full collection, before the scenario ran.</summary>
    public long Baseline { get; }

    /// <summary>Highest working set seen since the sampler started.</summary>
    public long Peak => Math.Max(Volatile.Read(ref _peak), Environment.WorkingSet);

    /// <summary>Peak minus baseline.</summary>
    public long Growth => Peak - Baseline;

    public static WorkingSetSampler Start() => new();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    private async Task SampleAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(2));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                var now = Environment.WorkingSet;
                if (now > _peak)
                {
                    Volatile.Write(ref _peak, now);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped by DisposeAsync.
        }
    }
}
