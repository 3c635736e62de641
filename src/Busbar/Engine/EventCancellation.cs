using Busbar.Dispatch;
using Microsoft.Extensions.Logging;

namespace Busbar.Engine;

/// <summary>Why an event's handlers were cancelled.</summary>
internal enum CancelReason
{
    None,
    Stopping,
    Deadline,
    FirstCompleted,
}

/// <summary>The cancellation scope of one event being handled: bus stop, deadline, and first-wins completion.</summary>
internal sealed class EventCancellation : IDisposable
{
    private readonly CancellationTokenSource? _cts;
    private readonly CompletionMode _completion;
    private readonly CancellationToken _stopToken;
    private readonly DateTimeOffset? _deadline;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private ITimer? _deadlineTimer;
    private int _reason;

    private EventCancellation(CancellationToken stopToken, CancellationTokenSource? cts, CompletionMode completion, DateTimeOffset? deadline, TimeProvider time, ILogger logger)
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

    /// <summary>Creates the scope of one event.</summary>
    /// <param name="stopToken">The bus's stop token.</param>
    /// <param name="callerToken">The inline caller's token, or <see langword="default"/>.</param>
    /// <param name="deadline">The event's deadline, if any.</param>
    /// <param name="completion">First-wins cancels the others when one handler succeeds.</param>
    /// <param name="time">The clock of the deadline timer.</param>
    /// <param name="logger">Where a throwing cancellation callback is logged.</param>
    public static EventCancellation Create(CancellationToken stopToken, CancellationToken callerToken, DateTimeOffset? deadline, CompletionMode completion, TimeProvider time, ILogger logger)
    {
        if (deadline is null && completion == CompletionMode.All && !callerToken.CanBeCanceled)
            return new EventCancellation(stopToken, null, completion, null, time, logger);
        var cts = callerToken.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(stopToken, callerToken)
            : CancellationTokenSource.CreateLinkedTokenSource(stopToken);
        var run = new EventCancellation(stopToken, cts, completion, deadline, time, logger);
        if (deadline is { } due)
        {
            var remaining = due - time.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
                run.Cancel(CancelReason.Deadline);
            else
                run._deadlineTimer = time.CreateTimer(static s => ((EventCancellation)s!).Cancel(CancelReason.Deadline), run, remaining, Timeout.InfiniteTimeSpan);
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
