using System.Collections.Concurrent;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// What the randomized mix runs (<see cref="StressRun"/>, <see cref="RoomWaitRun"/>) share: the violations they collect, the
/// handles and shed records they keep, the per-key checks made when a keyed handler starts, and the accounting every run
/// checks once its bus has stopped.
/// </summary>
internal abstract class MixRun
{
    protected readonly ConcurrentQueue<string> _violations = new();
    protected readonly ConcurrentDictionary<int, EventHandle> _handles = new();
    protected readonly ConcurrentDictionary<int, EventStatus> _refused = new();
    private readonly ConcurrentDictionary<string, int> _activeKeys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _lastSequence = new(StringComparer.Ordinal);

    /// <summary>The run's own id of a published payload (its work or child record), for the shed callback.</summary>
    protected abstract int IdOf(object payload);

    protected void Expect(bool condition, string violation)
    {
        if (!condition)
            _violations.Enqueue(violation);
    }

    /// <summary>The bus's <c>OnEventShed</c>: each event is dropped or rejected at most once.</summary>
    protected void Refused(object payload, EventStatus status)
    {
        var id = IdOf(payload);
        Expect(_refused.TryAdd(id, status), $"event {id}: refused twice");
    }

    /// <summary>
    /// A keyed handler starts: no other event of its key is running, and the events of one <paramref name="line"/> (a
    /// publisher's key, with whatever else orders them) start in their publish order.
    /// </summary>
    protected void EnterKey(int id, string key, string line, int sequence)
    {
        var active = _activeKeys.AddOrUpdate(key, 1, static (_, v) => v + 1);
        Expect(active == 1, $"event {id}: key {key} already held by another running event");
        var previous = _lastSequence.AddOrUpdate(line, sequence, (_, last) => Math.Max(last, sequence));
        Expect(previous == sequence, $"event {id}: key {key} sequence {sequence} started after sequence {previous} ({line})");
    }

    /// <summary>A keyed handler ends.</summary>
    protected void LeaveKey(string key) => _activeKeys.AddOrUpdate(key, 0, static (_, v) => v - 1);

    /// <summary>
    /// After <c>StopAsync</c> returned: every handle complete, nothing queued or running, every counted publish ended in one
    /// outcome, completed handles and shed records agree with the counters. Returns the handles as checked.
    /// </summary>
    protected KeyValuePair<int, EventHandle>[] CheckSettled(BusStatistics stats)
    {
        var handles = _handles.ToArray();
        foreach (var (id, handle) in handles)
            Expect(handle.IsCompleted, $"event {id}: handle still {handle.Status} after StopAsync returned");
        Expect(stats.QueueDepth == 0 && stats.InFlight == 0, $"after stop: depth {stats.QueueDepth}, in flight {stats.InFlight}");
        Expect(stats.Published == stats.Processed + stats.Dropped + stats.Rejected, $"published {stats.Published} != processed {stats.Processed} + dropped {stats.Dropped} + rejected {stats.Rejected}");
        var completed = handles.Count(h => h.Value.Status == EventStatus.Completed);
        Expect(completed == stats.Completed, $"completed handles {completed} != statistics {stats.Completed}");
        var refusedDropped = _refused.Values.Count(s => s == EventStatus.Dropped);
        var refusedRejected = _refused.Values.Count(s => s == EventStatus.Rejected);
        Expect(refusedDropped == stats.Dropped, $"dropped records {refusedDropped} != statistics {stats.Dropped}");
        Expect(refusedRejected == stats.Rejected, $"rejected records {refusedRejected} != statistics {stats.Rejected}");
        return handles;
    }
}
