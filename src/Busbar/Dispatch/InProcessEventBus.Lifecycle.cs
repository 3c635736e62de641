using Busbar.Diagnostics;

namespace Busbar.Dispatch;

/// <summary>Statistics, stop and dispose.</summary>
internal sealed partial class InProcessEventBus
{
    public BusStatistics GetStatistics()
    {
        var (depth, inFlight) = _queue.ReadCounts();
        return Metrics.Snapshot(depth, Options.Capacity, inFlight, Router.Subscriptions);
    }

    /// <summary>What a publish, send or forward is refused with once the bus has begun stopping.</summary>
    private BusStoppedException StoppedException() => new($"Bus '{Name}' is stopped and accepts no more events.");

    public ValueTask<StopReport> StopAsync(TimeSpan? drainTimeout = null, CancellationToken cancellationToken = default)
    {
        lock (_stopLock)
        {
            _stopTask ??= StopCoreAsync(drainTimeout ?? Options.DrainTimeout, cancellationToken);
        }

        return new ValueTask<StopReport>(_stopTask);
    }

    private async Task<StopReport> StopCoreAsync(TimeSpan drainTimeout, CancellationToken cancellationToken)
    {
        var start = TimeProvider.GetTimestamp();
        var processedBefore = Metrics.ProcessedCount;
        var cancelledBefore = Metrics.CancelledCount;
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _inFlight.BeginStop(drained);
        _queue.Close();
        if (_inFlight.Value == 0)
            drained.TrySetResult();

        // A transport's intake ends first; its running deliveries and publishes on their way drain beside the queue.
        var transportIdle = _link?.BeginStop();
        var allDrained = transportIdle is null ? drained.Task : Task.WhenAll(drained.Task, transportIdle);
        LogMessages.Stopping(Logger, Name, _queue.Count, drainTimeout.TotalMilliseconds);

        var completed = true;
        try
        {
            await allDrained.WaitAsync(drainTimeout, TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            completed = false;
        }

        if (!completed)
        {
            // Events not started, wherever they wait (behind a busy ordering key too), never start: the queue
            // hands them all over, claimed, and they complete as cancelled. Only then are running handlers
            // cancelled, so no worker can start one in between.
            foreach (var context in _queue.TakeAll())
                (context.Settler ?? _queuedSettler).Settle(context, EventStatus.Cancelled);

            await Cancellation.TryCancelAsync(_stopCts, Logger).ConfigureAwait(false);

            // Handlers see their tokens cancelled; the processor waits CancellationGrace for each to end and
            // abandons those still running, so the events (and their DI scopes) are done within the grace.
            try
            {
                await allDrained.WaitAsync(Options.CancellationGrace + s_cancelGrace, s_safetyClock, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                LogMessages.StopAbandoned(Logger, Name, _inFlight.Value);
            }
        }

        try
        {
            await _workers.WaitAsync().WaitAsync(s_cancelGrace, s_safetyClock, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogMessages.StopAbandoned(Logger, Name, _inFlight.Value);
        }

        long pendingInBroker = 0;
        if (_link is not null)
        {
            // Deliveries given back (cancelled by the stop) and any still running: none was acknowledged, all come again.
            pendingInBroker = _transportSettler!.Returned + _link.Running;
            await _link.DisposeAsync().ConfigureAwait(false);
        }

        long pendingInLog = 0;
        if (_log is not null)
        {
            // Publishes still writing their record end in admission (the queue is closed: refused) within one flush.
            var appendsDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _appendsDone, appendsDone);
            if (Volatile.Read(ref _appending) == 0)
                appendsDone.TrySetResult();
            try
            {
                await appendsDone.Task.WaitAsync(s_cancelGrace, s_safetyClock, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // A wedged disk: the log is closed anyway, and such a publish fails.
            }

            var waiting = _recovery!.WaitingCount;
            if (waiting > 0)
                LogMessages.RecoveryUnclaimed(Logger, _log.Directory, waiting, string.Join(", ", _recovery.Waiting.Keys));
            pendingInLog = _walRecorder!.CancelledDurable + waiting;
            await _log.DisposeAsync().ConfigureAwait(false);
        }

        // Read from the per-status counters, so the report says what the handles say: an event that was running
        // when the drain ended and still finished normally counts as drained, not cancelled.
        var cancelled = Metrics.CancelledCount - cancelledBefore;
        var report = new StopReport
        {
            Drained = Metrics.ProcessedCount - processedBefore - cancelled,
            Cancelled = cancelled,
            Dropped = Metrics.DroppedCount,
            Rejected = Metrics.RejectedCount,
            PendingInLog = pendingInLog,
            PendingInBroker = pendingInBroker,
            Completed = completed,
            Elapsed = TimeProvider.GetElapsedTime(start),
        };
        LogMessages.Stopped(Logger, Name, report.Drained, report.Cancelled);
        return report;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        LeaveSenderSlots();
        Router.ReleaseSlots();
        Metrics.Dispose();
        _stopCts.Dispose();
    }
}
