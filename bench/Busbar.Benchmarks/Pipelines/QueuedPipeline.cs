namespace Busbar.Benchmarks.Pipelines;

/// <summary>
/// A long-lived producer → consumer pipeline: one producer publishes <see cref="Events.Ping"/>
/// events into a bounded (or, for the peers that have none, unbounded) queue; one handler counts
/// them. The BenchmarkDotNet queued rows and the driver's throughput table share these, so both
/// measure the same code.
/// </summary>
public abstract class QueuedPipeline : IAsyncDisposable
{
    private TaskCompletionSource _done = NewDone();
    private long _handled;
    private long _target = long.MaxValue;

    /// <summary>Row name in the tables.</summary>
    public abstract string Name { get; }

    /// <summary>Events handled since the pipeline started.</summary>
    public long Handled => Volatile.Read(ref _handled);

    /// <summary>Publishes <paramref name="count"/> events and returns when all of them were handled.</summary>
    public async Task RunAsync(int count, CancellationToken cancellationToken)
    {
        _done = NewDone();
        Volatile.Write(ref _target, Handled + count);
        await PublishAsync(count, cancellationToken);
        await _done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Starts the consumer; called once before the first run.</summary>
    public abstract Task StartAsync();

    public abstract ValueTask DisposeAsync();

    protected abstract Task PublishAsync(int count, CancellationToken cancellationToken);

    /// <summary>The handler body for single-consumer pipelines: count and signal the last event.</summary>
    protected void OnHandledSerial()
    {
        if (++_handled == Volatile.Read(ref _target))
        {
            _done.TrySetResult();
        }
    }

    /// <summary>The handler body for peers that may run their consumer concurrently.</summary>
    protected void OnHandledConcurrent()
    {
        if (Interlocked.Increment(ref _handled) == Volatile.Read(ref _target))
        {
            _done.TrySetResult();
        }
    }

    private static TaskCompletionSource NewDone() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
