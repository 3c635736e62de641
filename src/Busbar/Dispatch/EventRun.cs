using Microsoft.Extensions.Logging;

namespace Busbar.Dispatch;

/// <summary>Why an event's handlers were cancelled.</summary>
internal enum CancelReason
{
    None,
    Stopping,
    Deadline,
    FirstCompleted,
}

/// <summary>The cancellation scope of one event being handled: bus stop, deadline, and first-wins completion.</summary>
internal sealed class EventRun : IDisposable
{
    private readonly CancellationTokenSource? _cts;
    private readonly ITimer? _deadlineTimer;
    private readonly CompletionMode _completion;
    private readonly CancellationToken _stopToken;
    private readonly ILogger _logger;
    private int _reason;

    private EventRun(CancellationToken stopToken, CancellationTokenSource? cts, ITimer? deadlineTimer, CompletionMode completion, bool deadlinePassed, ILogger logger)
    {
        _stopToken = stopToken;
        _logger = logger;
        _cts = cts;
        _deadlineTimer = deadlineTimer;
        _completion = completion;
        IsDeadlinePassed = deadlinePassed;
        if (deadlinePassed)
            _reason = (int)CancelReason.Deadline;
    }

    public CancellationToken Token => _cts?.Token ?? _stopToken;

    public bool IsDeadlinePassed { get; }

    public CancelReason Reason => _stopToken.IsCancellationRequested && _reason == 0 ? CancelReason.Stopping : (CancelReason)Volatile.Read(ref _reason);

    public static EventRun Create(InProcessEventBus bus, EventContext context, CompletionMode completion)
    {
        var stopToken = bus.StopToken;
        var caller = context.CallerToken;
        if (context.Deadline is null && completion == CompletionMode.All && !caller.CanBeCanceled)
            return new EventRun(stopToken, null, null, completion, deadlinePassed: false, bus.Logger);
        var cts = caller.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(stopToken, caller)
            : CancellationTokenSource.CreateLinkedTokenSource(stopToken);
        ITimer? timer = null;
        var passed = false;
        if (context.Deadline is { } deadline)
        {
            var remaining = deadline - bus.TimeProvider.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                passed = true;
            }
            else
            {
                var run = new EventRun(stopToken, cts, null, completion, deadlinePassed: false, bus.Logger);
                timer = bus.TimeProvider.CreateTimer(static s => ((EventRun)s!).Cancel(CancelReason.Deadline), run, remaining, Timeout.InfiniteTimeSpan);
                return run.WithTimer(timer);
            }
        }

        return new EventRun(stopToken, cts, timer, completion, passed, bus.Logger);
    }

    private ITimer? _ownedTimer;

    private EventRun WithTimer(ITimer timer)
    {
        _ownedTimer = timer;
        return this;
    }

    public void OnSucceeded()
    {
        if (_completion == CompletionMode.First)
            Cancel(CancelReason.FirstCompleted);
    }

    private void Cancel(CancelReason reason)
    {
        if (Interlocked.CompareExchange(ref _reason, (int)reason, 0) != 0)
            return;
        if (_cts is not null)
            Cancellation.TryCancel(_cts, _logger);
    }

    public void Dispose()
    {
        _deadlineTimer?.Dispose();
        _ownedTimer?.Dispose();
        _cts?.Dispose();
    }
}
