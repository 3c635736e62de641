namespace Busbar.Dispatch;

/// <summary>Queue jumps: a handler awaiting its still-queued child runs it at once, through the queue source.</summary>
internal sealed partial class InProcessEventBus
{
    /// <summary>The awaiter of an <see cref="EventHandle"/>: queue jump when a handler awaits its still-queued child.</summary>
    internal ValueTask<EventOutcome> AwaitAsync(EventContext context)
    {
        if (context.IsCompleted)
            return new ValueTask<EventOutcome>(context.GetOutcome());
        if (context.Stage == EventContext.StageQueued && IsOwnHandler() && _queue.TryRemove(context))
            return _queueSource.ProcessJumpedAsync(context);
        return context.WaitForOutcomeAsync();
    }
}
