namespace Busbar.Dispatch;

/// <summary>
/// Events admitted and not completed (queued or running). The queue counts an event in when it adds it,
/// under its lock; whoever completes the event counts it out.
/// </summary>
internal sealed class InFlightCounter
{
    private long _value;

    public long Value => Interlocked.Read(ref _value);

    public void Enter() => Interlocked.Increment(ref _value);

    public void Enter(int count) => Interlocked.Add(ref _value, count);

    /// <summary>Counts one event out; true when none is left.</summary>
    public bool Leave() => Interlocked.Decrement(ref _value) == 0;
}
