namespace Busbar.Dispatch;

/// <summary>
/// Events admitted and not completed (queued or running). The queue counts an event in when it adds it,
/// under its lock; whoever completes the event counts it out. Once a stop begins, the event counted out
/// last signals the drain the stop waits for.
/// </summary>
internal sealed class InFlightCounter
{
    private long _value;
    private volatile bool _stopping;
    private TaskCompletionSource? _drained;

    /// <summary>True once <see cref="BeginStop"/> was called.</summary>
    public bool IsStopping => _stopping;

    public long Value => Interlocked.Read(ref _value);

    public void Enter() => Interlocked.Increment(ref _value);

    public void Enter(int count) => Interlocked.Add(ref _value, count);

    /// <summary>Counts one event out; true when none is left.</summary>
    public bool Leave() => Interlocked.Decrement(ref _value) == 0;

    /// <summary>Begins a stop: from now on, the event counted out last completes <paramref name="drained"/> (see <see cref="SignalDrained"/>).</summary>
    public void BeginStop(TaskCompletionSource drained)
    {
        Volatile.Write(ref _drained, drained);
        _stopping = true;
    }

    /// <summary>Counts one event out; true when it was the last one during a stop (then call <see cref="SignalDrained"/> once its handle is complete).</summary>
    public bool LeaveDuringStop() => Leave() && _stopping;

    /// <summary>Wakes the stop waiting for the drain.</summary>
    public void SignalDrained() => Volatile.Read(ref _drained)?.TrySetResult();
}
