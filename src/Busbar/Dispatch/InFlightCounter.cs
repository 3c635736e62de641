using System.Runtime.InteropServices;

namespace Busbar.Dispatch;

/// <summary>
/// Events admitted and not completed (queued or running). The queue counts an event in when it admits it;
/// whoever completes the event counts it out. Once a stop begins, the event counted out last signals the
/// drain the stop waits for.
/// </summary>
/// <remarks>
/// Two counts, each on cache lines of its own: publishers count in, workers count out. One count that both sides
/// changed for every event would move between their cores twice per event, which on a virtual machine costs more than the
/// rest of the publish (issue 16). Counting out reads the count in only once a stop has begun. Every change is interlocked,
/// so a stop that sets its flag and then reads both counts, and a worker that counts out and then reads the flag, cannot
/// both miss each other: either the worker sees the stop (and compares the counts) or the stop sees the count out.
/// </remarks>
internal sealed class InFlightCounter
{
    private Counts _counts;
    private volatile bool _stopping;
    private TaskCompletionSource? _drained;

    /// <summary>True once <see cref="BeginStop"/> was called.</summary>
    public bool IsStopping => _stopping;

    /// <summary>Events counted in and not out; never below the true count (the count out is read first).</summary>
    public long Value
    {
        get
        {
            var left = Volatile.Read(ref _counts.Left);
            return Volatile.Read(ref _counts.Entered) - left;
        }
    }

    public void Enter() => Interlocked.Increment(ref _counts.Entered);

    /// <summary>Takes back an <see cref="Enter"/> for an event that was not admitted after all; during a stop the last one signals the drain.</summary>
    public void Undo()
    {
        Interlocked.Decrement(ref _counts.Entered);
        if (_stopping && Value == 0)
            SignalDrained();
    }

    /// <summary>Begins a stop: from now on, the event counted out last completes <paramref name="drained"/> (see <see cref="SignalDrained"/>).</summary>
    public void BeginStop(TaskCompletionSource drained)
    {
        Volatile.Write(ref _drained, drained);
        _stopping = true;
        Interlocked.MemoryBarrier();
    }

    /// <summary>Counts one event out; true when it was the last one during a stop (then call <see cref="SignalDrained"/> once its handle is complete).</summary>
    public bool LeaveDuringStop()
    {
        var left = Interlocked.Increment(ref _counts.Left);
        return _stopping && left == Volatile.Read(ref _counts.Entered);
    }

    /// <summary>Wakes the stop waiting for the drain.</summary>
    public void SignalDrained() => Volatile.Read(ref _drained)?.TrySetResult();

    /// <summary>The two counts, 128 bytes apart and from anything else (the adjacent-line prefetcher moves lines in pairs).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 384)]
    private struct Counts
    {
        [FieldOffset(128)]
        public long Entered;

        [FieldOffset(256)]
        public long Left;
    }
}
