using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>Dead-letter re-drive, write-ahead-log recovery and status.</summary>
internal sealed partial class InProcessEventBus
{
    internal SubscriptionEntry? FindSubscription(string name)
    {
        foreach (var entry in Router.Subscriptions)
        {
            if (entry.Name == name && entry.IsActive)
                return entry;
        }

        return null;
    }

    /// <summary>Runs one event on one subscription, outside the queue (dead-letter re-drive, log recovery).</summary>
    internal async ValueTask<EventOutcome> RedriveAsync(DeadLetter letter, SubscriptionEntry subscription, CancellationToken cancellationToken)
    {
        var source = letter.Context;
        var payload = _journal?.Materialize(source.Payload, source.Name) ?? source.Payload;
        if (payload is System.Text.Json.JsonElement)
            throw new InvalidOperationException($"Dead letter {letter.Id} holds an event '{source.Name}' whose type is not registered on bus '{Name}'; register it with EventBusBuilder.RegisterEvent<T>() to re-drive it.");
        var context = source.CloneForAttempt(source.Attempt + letter.Attempts, payload);

        // A re-drive is a new delivery: the original deadline has usually long passed.
        context.Deadline = null;
        if (_journal is not null && subscription.HasStableName)
            await _journal.OnRedriveAsync(letter, context, subscription, cancellationToken).ConfigureAwait(false);
        context.Route = new Route([subscription], [0], Router.Version);
        context.MarkRunning();
        var status = await _dispatcher.DispatchAsync(context, context.Route, cancellationToken, null, recordResults: true).ConfigureAwait(false);
        _redriveSettler.Settle(context, status);
        return context.GetOutcome();
    }

    /// <summary>Queues an event recovered from the log. Recovery never waits for room: it is bounded by what the log holds.</summary>
    internal void AdmitRecovered(EventContext context)
    {
        EnterFlight(context);
        if (_queue.TryEnqueue(context, int.MaxValue, dropOldest: false, out _) != EnqueueResult.Admitted)
        {
            UndoFlight(context);
            return;
        }

        Metrics.Published(context);
        OnAdmitted(context);
    }

    public WriteAheadLogStatus? GetWriteAheadLogStatus() => _journal is null
        ? null
        : new WriteAheadLogStatus
        {
            Directory = _journal.Log.Directory,
            PendingEvents = _journal.WaitingCount,
            PendingBySubscription = _journal.Waiting,
            Problems = _journal.Problems,
        };
}
