using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>Write-ahead-log recovery and status.</summary>
internal sealed partial class InProcessEventBus
{
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
                letter.Context.BindTo(this);
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
        var result = _queue.TryEnqueue(context, int.MaxValue, dropOldest: false, out _);
        if (result != EnqueueResult.Admitted)
        {
            UndoFlight(context);
            // Taken back from a queue that closed meanwhile: it stays in the log for the next start, and leaves flight here.
            if (result == EnqueueResult.ClosedWhileAdmitting && _inFlight.LeaveDuringStop())
                _inFlight.SignalDrained();
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
