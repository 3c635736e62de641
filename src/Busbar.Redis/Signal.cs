namespace Busbar.Redis;

/// <summary>An auto-reset wake-up: many <see cref="Set"/> calls before a wait collapse into one (the doorbell is a hint, not a count).</summary>
internal sealed class Signal
{
    private readonly SemaphoreSlim _semaphore = new(0, 1);

    public void Set()
    {
        if (_semaphore.CurrentCount != 0)
            return;
        try
        {
            _semaphore.Release();
        }
        catch (SemaphoreFullException)
        {
            // Another Set won the race: one pending wake-up is all a waiter needs.
        }
    }

    /// <summary>Waits for a <see cref="Set"/> or the timeout; returns whether it was set.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _semaphore.WaitAsync(timeout, cancellationToken);
}
