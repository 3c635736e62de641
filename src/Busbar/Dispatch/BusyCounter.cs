namespace Busbar.Dispatch;

/// <summary>
/// Work in progress (deliveries being handled, publishes waiting for the broker) that a stop waits for. Once
/// <see cref="StopAndWaitIdleAsync"/> was called, the last <see cref="Leave"/> completes the task it returned, and
/// <see cref="TryEnter"/> refuses new work.
/// </summary>
/// <remarks>
/// The count and the stop share one word, so entering and stopping are ordered: a <see cref="TryEnter"/> either comes
/// before the stop (which then waits for its <see cref="Leave"/>) or is refused; none slips in after the stop found nothing.
/// </remarks>
internal sealed class BusyCounter
{
    private const long StoppingBit = 1L << 62;

    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _state;

    public long Count => Interlocked.Read(ref _state) & ~StoppingBit;

    public void Enter() => Interlocked.Increment(ref _state);

    /// <summary>Counts one piece of work in, unless the stop began: false then, and nothing was counted.</summary>
    public bool TryEnter()
    {
        var state = Interlocked.Read(ref _state);
        while ((state & StoppingBit) == 0)
        {
            var seen = Interlocked.CompareExchange(ref _state, state + 1, state);
            if (seen == state)
                return true;
            state = seen;
        }

        return false;
    }

    public void Leave()
    {
        if (Interlocked.Decrement(ref _state) == StoppingBit)
            _idle.TrySetResult();
    }

    /// <summary>Completes when nothing is in progress, now or at the last <see cref="Leave"/>.</summary>
    public Task StopAndWaitIdleAsync()
    {
        if ((Interlocked.Or(ref _state, StoppingBit) & ~StoppingBit) == 0)
            _idle.TrySetResult();
        return _idle.Task;
    }
}
