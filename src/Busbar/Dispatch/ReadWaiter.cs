using System.Threading.Tasks.Sources;

namespace Busbar.Dispatch;

/// <summary>
/// A worker of <see cref="EventWorkers"/> waiting in <see cref="EventQueue.WaitToReadAsync"/> for a ready event. Each worker owns one
/// and reuses it for every wait, so a worker that catches up with its publishers (and waits once per event) allocates nothing per
/// wait. The queue lists it under its lock and completes it once the lock is released; its continuation always runs on the thread
/// pool, never inline on the publisher that woke it.
/// </summary>
internal sealed class ReadWaiter : IValueTaskSource<bool>
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };

    /// <summary>The next listed waiter (the queue's link, set and read under its lock or after it took the chain out).</summary>
    internal ReadWaiter? Next;

    /// <summary>In the queue's list (set and cleared under the queue's lock).</summary>
    internal bool Listed;

    /// <summary>The value task of the current wait; call it under the queue's lock, before the waiter can be woken.</summary>
    public ValueTask<bool> Pending => new(this, _core.Version);

    /// <summary>Wakes a chain the queue took out of its list under its lock: <see langword="true"/> when an event is ready, <see langword="false"/> when the queue closed empty.</summary>
    public static void WakeAll(ReadWaiter? first, bool ready)
    {
        while (first is not null)
        {
            var next = first.Next;
            first.Next = null;
            first._core.SetResult(ready);
            first = next;
        }
    }

    public bool GetResult(short token)
    {
        var ready = _core.GetResult(token);
        _core.Reset();
        return ready;
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
