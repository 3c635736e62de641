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
    private readonly CompletionMode _completion;
    private readonly CancellationToken _stopToken;
    private readonly DateTimeOffset? _deadline;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private ITimer? _deadlineTimer;
    private int _reason;

    private EventRun(CancellationToken stopToken, CancellationTokenSource? cts, CompletionMode completion, DateTimeOffset? deadline, TimeProvider time, ILogger logger)
    {
        _stopToken = stopToken;
        _cts = cts;
        _completion = completion;
        _deadline = deadline;
        _time = time;
        _logger = logger;
    }

    public CancellationToken Token => _cts?.Token ?? _stopToken;

    /// <summary>
    /// The event's deadline has passed: a handler (or retry attempt) not started yet must not start.
    /// Reads the clock as well as the timer's verdict, so a timer callback running late cannot let a handler in.
    /// </summary>
    public bool IsDeadlinePassed =>
        _deadline is { } deadline
        && (Volatile.Read(ref _reason) == (int)CancelReason.Deadline || _time.GetUtcNow() >= deadline);

    public CancelReason Reason => _stopToken.IsCancellationRequested && _reason == 0 ? CancelReason.Stopping : (CancelReason)Volatile.Read(ref _reason);

    public static EventRun Create(InProcessEventBus bus, EventContext context, CompletionMode completion)
    {
        var stopToken = bus.StopToken;
        var caller = context.CallerToken;
        if (context.Deadline is null && completion == CompletionMode.All && !caller.CanBeCanceled)
            return new EventRun(stopToken, null, completion, null, bus.TimeProvider, bus.Logger);
        var cts = caller.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(stopToken, caller)
            : CancellationTokenSource.CreateLinkedTokenSource(stopToken);
        var run = new EventRun(stopToken, cts, completion, context.Deadline, bus.TimeProvider, bus.Logger);
        if (context.Deadline is { } deadline)
        {
            var remaining = deadline - bus.TimeProvider.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
                run.Cancel(CancelReason.Deadline);
            else
                run._deadlineTimer = bus.TimeProvider.CreateTimer(static s => ((EventRun)s!).Cancel(CancelReason.Deadline), run, remaining, Timeout.InfiniteTimeSpan);
        }

        return run;
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
        _cts?.Dispose();
    }
}
