namespace Busbar.Engine;

/// <summary>
/// The clock reading at which the last handler a queue worker ran ended, carried to the start of the next event's first
/// handler while the worker takes events back to back, so that a handler costs one clock read rather than two (issue 16).
/// </summary>
/// <remarks>
/// <para>
/// Within one event the serial path already times handler after handler from one read each: the end of one is the start of
/// the next. Carrying the last end over to the next event extends that to the gap between two events: settling the previous
/// one (counters, dead letters, the log, waking its awaiters) and taking the next from the queue. That gap then counts in the
/// next handler's <see cref="HandlerResult.Duration"/>, as the recording of one handler's result already counts in the next
/// one's within an event.
/// </para>
/// <para>
/// Only a worker's own flow touches it, and only while it runs synchronously: <see cref="EventDispatcher"/> takes the carried
/// reading when it starts an event and carries one on only when that event's handlers all ran on its synchronous serial path;
/// the worker drops it (<see cref="Reset"/>) after every await and whenever it finds the queue empty, so time a worker spends
/// waiting for an event, or for a handler that went asynchronous, never counts in a handler's duration.
/// </para>
/// </remarks>
internal sealed class HandlerClock
{
    // 0 = none carried: the next handler reads the clock. A clock that reads 0 is read afresh, which is always exact.
    private long _carried;

    /// <summary>The worker may have waited (or did): the next handler reads the clock afresh.</summary>
    public void Reset() => _carried = 0;

    /// <summary>The reading carried from the previous event's last handler, or 0; either way none is carried afterwards.</summary>
    public long Take()
    {
        var carried = _carried;
        _carried = 0;
        return carried;
    }

    /// <summary>The event's handlers ended synchronously at <paramref name="timestamp"/>: the next event's first handler starts from it.</summary>
    public void Carry(long timestamp) => _carried = timestamp;
}
