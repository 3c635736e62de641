namespace Busbar.Cli.Demo;

/// <summary>
/// Counts every event the demo publishes exactly once, by how it ended, so the summary can show that
/// published = completed + dropped + rejected + dead-lettered + cancelled.
/// </summary>
/// <remarks>
/// An event whose handler ends in the dead letters counts once as dead-lettered, however many handlers
/// it has and however many attempts the failing one made. The outcome of each admitted event is
/// observed by a task kept in <see cref="_observers"/>, which <see cref="SettleAsync"/> awaits, so no
/// outcome (and no exception) goes unobserved. The observer runs outside the handler that published
/// the event: awaiting a handle inside a handler of the same bus makes the event jump the queue, so
/// observing there would change how the invoices flow (none would ever pass through the queue).
/// </remarks>
internal sealed class OutcomeLedger
{
    private readonly Lock _gate = new();
    private readonly List<Task> _observers = [];
    private long _published;
    private long _orders;
    private long _completed;
    private long _dropped;
    private long _rejected;
    private long _deadLettered;
    private long _cancelled;

    public long Published => Interlocked.Read(ref _published);

    public long Orders => Interlocked.Read(ref _orders);

    public long Children => Published - Orders;

    /// <summary>Events whose handle completed <see cref="EventStatus.Completed"/>: every handler succeeded.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    public long Dropped => Interlocked.Read(ref _dropped);

    public long Rejected => Interlocked.Read(ref _rejected);

    public long DeadLettered => Interlocked.Read(ref _deadLettered);

    public long Cancelled => Interlocked.Read(ref _cancelled);

    /// <summary>Events whose outcome is not known yet.</summary>
    public long Pending => Published - Completed - Dropped - Rejected - DeadLettered - Cancelled;

    /// <summary>Records an admitted (or, under a drop mode, already dropped) event and observes its outcome.</summary>
    public void Track(EventHandle handle, bool isOrder)
    {
        Count(isOrder);
        Task observer;

        // Not awaited here: in a handler's flow, await on a queued handle is a queue jump. A task started
        // with the flow suppressed has no ambient handler, so the event waits its turn in the queue.
        using (ExecutionContext.SuppressFlow())
            observer = Task.Run(() => ObserveAsync(handle));
        lock (_gate)
        {
            _observers.Add(observer);
        }
    }

    /// <summary>Records an event the bus refused with an exception (full under Reject, or cancelled while waiting for room).</summary>
    public void Refused(bool isOrder)
    {
        Count(isOrder);
        Interlocked.Increment(ref _rejected);
    }

    /// <summary>Waits until the outcome of every tracked event is known; call after the bus has stopped.</summary>
    public async Task SettleAsync()
    {
        Task[] observers;
        lock (_gate)
        {
            observers = [.. _observers];
        }

        await Task.WhenAll(observers).ConfigureAwait(false);
    }

    private void Count(bool isOrder)
    {
        Interlocked.Increment(ref _published);
        if (isOrder)
            Interlocked.Increment(ref _orders);
    }

    private async Task ObserveAsync(EventHandle handle)
    {
        var outcome = await handle;
        switch (outcome.Status)
        {
            case EventStatus.Completed:
                Interlocked.Increment(ref _completed);
                break;
            case EventStatus.Dropped:
                Interlocked.Increment(ref _dropped);
                break;
            case EventStatus.Rejected:
                Interlocked.Increment(ref _rejected);
                break;
            case EventStatus.Cancelled:
                Interlocked.Increment(ref _cancelled);
                break;
            default:
                // Failed after the last retry, or timed out: the bus moved the failing delivery to the dead letters.
                Interlocked.Increment(ref _deadLettered);
                break;
        }
    }
}
