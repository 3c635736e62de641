namespace Busbar.Dispatch;

/// <summary>Forwarding events to another bus.</summary>
internal sealed partial class InProcessEventBus
{
    public ISubscription ForwardTo(IEventBus target, string pattern = "*", ForwardOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target is not InProcessEventBus other)
            throw new ArgumentException("ForwardTo needs a bus created by Busbar.", nameof(target));
        if (ReferenceEquals(other, this))
            throw new ArgumentException("A bus cannot forward to itself.", nameof(target));
        var wait = options?.WaitForTarget ?? false;
        return Subscribe(
            pattern,
            async (e, context, ct) =>
            {
                if (other.TryForward(context, ct, out var admitted))
                {
                    var handle = await admitted.ConfigureAwait(false);
                    if (wait)
                        await handle.AsValueTask().ConfigureAwait(false);
                }
            },
            new SubscriptionOptions { Name = options?.Name ?? $"forward:{other.Name}:{pattern}" });
    }

    /// <summary>Admits a copy of an event from another bus, keeping its ids; false when this bus is already on its path.</summary>
    internal bool TryForward(EventContext source, CancellationToken cancellationToken, out ValueTask<EventHandle> admitted)
    {
        foreach (var hop in source.Path)
        {
            if (hop == Name)
            {
                admitted = default;
                return false;
            }
        }

        var context = new EventContext(this, source.Payload, source.Name)
        {
            EventId = source.EventId,
            CorrelationIdValue = source.CorrelationId,
            CausationId = source.CausationId,
            CreatedAt = source.CreatedAt,
            Priority = source.Priority,
            OrderingKey = source.OrderingKey,
            Deadline = source.Deadline,
            Headers = source.Headers,
            Path = [.. source.Path, Name],
            Options = source.Options,
        };
        if (_inFlight.IsStopping)
            throw StoppedException();
        Metrics.Published(context);
        admitted = _log is null ? Admit(context, cancellationToken) : AdmitDurableAsync(context, cancellationToken);
        return true;
    }
}
