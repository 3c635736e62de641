using System.Runtime.InteropServices;

namespace Busbar.Dispatch;

/// <summary>
/// Events admitted and not completed (queued or running). The queue counts an event in when it adds it,
/// under its lock; whoever completes the event counts it out. Once a stop begins, the event counted out
/// last signals the drain the stop waits for.
/// </summary>
/// <remarks>
/// Two counts rather than one, each on a cache line of its own: events counted in (written only by the queue, under its
/// lock, so a plain write) and events counted out (by whoever completes one: an interlocked add). With one count the
/// publisher's increment under the queue's lock and the worker's decrement took the same line from each other's core on
/// every event, the publisher while holding the lock the worker waits for (issue 16). The value is their difference.
/// </remarks>
internal sealed class InFlightCounter
{
    private PaddedCount _entered;
    private PaddedCount _left;
    private volatile bool _stopping;
    private TaskCompletionSource? _drained;

    /// <summary>True once <see cref="BeginStop"/> was called.</summary>
    public bool IsStopping => _stopping;

    /// <summary>Events counted in and not out.</summary>
    /// <remarks>
    /// The count out is read first (with a full fence), then the count in: an event counted out in between still counts, so
    /// the value never falls below the number in flight when the count in was read (read under the queue's lock, never below
    /// the queue's depth) and is exact whenever nothing completes meanwhile.
    /// </remarks>
    public long Value
    {
        get
        {
            var left = Interlocked.Read(ref _left.Value);
            return Volatile.Read(ref _entered.Value) - left;
        }
    }

    /// <summary>Counts one event in; only the queue calls it, under its lock (one writer at a time).</summary>
    public void Enter() => Volatile.Write(ref _entered.Value, _entered.Value + 1);

    /// <summary>Begins a stop: from now on, the event counted out last completes <paramref name="drained"/> (see <see cref="SignalDrained"/>).</summary>
    public void BeginStop(TaskCompletionSource drained)
    {
        Volatile.Write(ref _drained, drained);
        _stopping = true;
    }

    /// <summary>Counts one event out; true when it was the last one during a stop (then call <see cref="SignalDrained"/> once its handle is complete).</summary>
    /// <remarks>
    /// The interlocked add is a full fence before <see cref="IsStopping"/> is read, as the stop's write of it is followed by a full
    /// fence (the queue's lock, then <see cref="Value"/>) before it reads the counts: either this call sees the stop and finds
    /// none left, or the stop finds none left itself.
    /// </remarks>
    public bool LeaveDuringStop()
    {
        var left = Interlocked.Increment(ref _left.Value);
        return _stopping && left == Volatile.Read(ref _entered.Value);
    }

    /// <summary>Wakes the stop waiting for the drain.</summary>
    public void SignalDrained() => Volatile.Read(ref _drained)?.TrySetResult();

    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedCount
    {
        [FieldOffset(64)]
        public long Value;
    }
}
