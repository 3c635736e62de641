using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>Dead-letter re-drive, write-ahead-log recovery and status.</summary>
internal sealed partial class InProcessEventBus
{
    /// <summary>Runs a dead letter's event again on its subscription, outside the queue: the <see cref="DeadLetterStore"/>'s re-drive.</summary>
    private async ValueTask<EventOutcome> RedriveAsync(DeadLetter letter, Subscription subscription, CancellationToken cancellationToken)
    {
        var source = letter.Context;
        var payload = _recovery?.ReadPayload(source.Payload, source.Name) ?? source.Payload;
        if (payload is System.Text.Json.JsonElement)
            throw new InvalidOperationException($"Dead letter {letter.Id} holds an event '{source.Name}' whose type is not registered on bus '{Name}'; register it with EventBusBuilder.RegisterEvent<T>() to re-drive it.");
        var context = source.CloneForAttempt(source.Attempt + letter.Attempts, payload);
        context.BindTo(this);

        // A re-drive is a new delivery: the original deadline has usually long passed.
        context.Deadline = null;
        var settler = _redriveSettler;
        if (_walRecorder is not null && subscription.HasStableName && await _walRecorder.OnRedriveAsync(letter, context, subscription, cancellationToken).ConfigureAwait(false))
            settler = _loggedRedriveSettler!;
        context.Route = new Route([subscription], [0], Router.Version);
        context.MarkRunning();
        var status = await _dispatcher.DispatchAsync(context, context.Route, cancellationToken, null, recordResults: true).ConfigureAwait(false);
        settler.Settle(context, status);
        return context.GetOutcome();
    }

    /// <summary>A dead letter was removed without a re-drive: a durable bus records it, so it is not recovered after a restart.</summary>
    private void OnDeadLetterRemoved(Guid id) => _walRecorder?.OnDeadLetterRemoved(id);

    /// <summary>
    /// A subscription was registered: the events the log held for it are queued again, and those that cannot be read
    /// back become its dead letters.
    /// </summary>
    private void Recover(Subscription subscription)
    {
        if (_recovery is null)
            return;
        if (subscription.EventType is { } own)
            _eventNames!.Add(own);
        foreach (var recovered in _recovery.Take(subscription))
        {
            if (recovered.Unreadable is { } letter)
            {
                _deadLetters.Add(letter, subscription);
                _walRecorder!.OnDeadLettered(letter.Context, letter);
                continue;
            }

            var context = recovered.Ready!;
            context.BindTo(this);
            context.Settler = _loggedSettler;
            AdmitRecovered(context);
        }
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

    public WriteAheadLogStatus? GetWriteAheadLogStatus() => _log is null
        ? null
        : new WriteAheadLogStatus
        {
            Directory = _log.Directory,
            PendingEvents = _recovery!.WaitingCount,
            PendingBySubscription = _recovery.Waiting,
            Problems = _recovery.Problems,
        };
}
