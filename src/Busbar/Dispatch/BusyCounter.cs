namespace Busbar.Dispatch;

/// <summary>
/// Work in progress (deliveries being handled, publishes waiting for the broker) that a stop waits for. Once
/// <see cref="StopAndWaitIdleAsync"/> was called, the last <see cref="Leave"/> completes the task it returned.
/// </summary>
internal sealed class BusyCounter
{
    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _count;
    private volatile bool _stopping;

    public long Count => Interlocked.Read(ref _count);

    public void Enter() => Interlocked.Increment(ref _count);

    public void Leave()
    {
        if (Interlocked.Decrement(ref _count) == 0 && _stopping)
            _idle.TrySetResult();
    }

    /// <summary>Completes when nothing is in progress, now or at the last <see cref="Leave"/>.</summary>
    public Task StopAndWaitIdleAsync()
    {
        // Stopping is published before the count is read: a Leave that reaches zero after this read sees it.
        _stopping = true;
        if (Interlocked.Read(ref _count) == 0)
            _idle.TrySetResult();
        return _idle.Task;
    }
}
