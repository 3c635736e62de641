namespace Busbar.Durability;

/// <summary>
/// The live set: events with pending subscriptions, dead letters, and the events they hold. Recovery replays
/// records through it and the running log applies each append to it, so both agree by construction.
/// </summary>
/// <remarks>
/// Replay rules that make compaction safe: a later record for the same event id adds its subscriptions to the
/// pending set (a compacted copy lists exactly the still-pending ones, so the union is exact); a dead letter may
/// arrive before the copy of its event (the copy was made later) and waits for it as a placeholder.
/// </remarks>
internal sealed class WalLiveSet
{
    private readonly Dictionary<Guid, LiveEvent> _events = [];
    private readonly Dictionary<Guid, LiveDeadLetter> _deadLetters = [];
    private long _nextOrdinal;

    public int EventCount => _events.Count;

    public int DeadLetterCount => _deadLetters.Count;

    public bool TryGetEvent(Guid eventId, out LiveEvent liveEvent) =>
        _events.TryGetValue(eventId, out liveEvent!) && liveEvent.Record is not null;

    public bool TryGetDeadLetter(Guid deadLetterId, out LiveDeadLetter deadLetter) =>
        _deadLetters.TryGetValue(deadLetterId, out deadLetter!);

    public bool IsPending(Guid eventId, string subscription) =>
        _events.TryGetValue(eventId, out var live) && live.Pending.Contains(subscription);

    public void ApplyEvent(WalEventRecord record, WalSegment segment, int frameLength)
    {
        if (!_events.TryGetValue(record.EventId, out var live))
        {
            live = new LiveEvent { Ordinal = _nextOrdinal++ };
            _events.Add(record.EventId, live);
        }

        live.Segment?.RemoveLiveEvent(record.EventId, live.FrameLength);
        live.Record = record;
        live.Segment = segment;
        live.FrameLength = frameLength;
        // Indexed, not foreach: enumerating the IReadOnlyList would box its enumerator on every append.
        var subscriptions = record.Subscriptions;
        for (var i = 0; i < subscriptions.Count; i++)
        {
            if (!live.Pending.Contains(subscriptions[i]))
            {
                live.Pending.Add(subscriptions[i]);
            }
        }

        segment.AddLiveEvent(record.EventId, frameLength);
    }

    public void ApplyHandlerFinished(Guid eventId, string subscription)
    {
        if (_events.TryGetValue(eventId, out var live) && live.Pending.Remove(subscription))
        {
            RemoveIfDone(eventId, live);
        }
    }

    public void ApplyDeadLetter(WalDeadLetterRecord record, WalSegment segment, int frameLength)
    {
        if (_deadLetters.TryGetValue(record.DeadLetterId, out var existing))
        {
            existing.Segment.RemoveLiveDeadLetter(record.DeadLetterId, existing.FrameLength);
        }
        else
        {
            if (!_events.TryGetValue(record.EventId, out var placeholder))
            {
                placeholder = new LiveEvent { Ordinal = _nextOrdinal++ };
                _events.Add(record.EventId, placeholder);
            }

            placeholder.DeadLetterRefs++;
        }

        _events[record.EventId].Pending.Remove(record.SubscriptionName);
        var ordinal = existing?.Ordinal ?? _nextOrdinal++;
        _deadLetters[record.DeadLetterId] = new LiveDeadLetter(record, segment, frameLength, ordinal);
        segment.AddLiveDeadLetter(record.DeadLetterId, frameLength);
    }

    public void ApplyDeadLetterRedriven(Guid deadLetterId)
    {
        if (!_deadLetters.Remove(deadLetterId, out var deadLetter))
        {
            return;
        }

        deadLetter.Segment.RemoveLiveDeadLetter(deadLetterId, deadLetter.FrameLength);
        var eventId = deadLetter.Record.EventId;
        if (_events.TryGetValue(eventId, out var live))
        {
            live.DeadLetterRefs--;
            RemoveIfDone(eventId, live);
        }
    }

    /// <summary>
    /// Ends a replay: drops events nothing needs any more (copies written only to carry a dead letter's event)
    /// and dead letters whose event record never appeared.
    /// </summary>
    public void CompleteReplay(List<WalProblem> problems)
    {
        List<Guid>? done = null;
        foreach (var (eventId, live) in _events)
        {
            if (live.Record is null || (live.Pending.Count == 0 && live.DeadLetterRefs == 0))
            {
                (done ??= []).Add(eventId);
            }
        }

        if (done is null)
        {
            return;
        }

        foreach (var eventId in done)
        {
            var live = _events[eventId];
            if (live.Record is null)
            {
                foreach (var (deadLetterId, deadLetter) in _deadLetters.Where(d => d.Value.Record.EventId == eventId).ToList())
                {
                    problems.Add(WalReplay.Problem(
                        WalProblemKind.OrphanedRecord,
                        deadLetter.Segment.FileName,
                        -1,
                        deadLetter.FrameLength,
                        WalRecoveryAction.Drop,
                        $"Dead letter {deadLetterId} references event {eventId}, whose record is missing; the dead letter was dropped."));
                    _deadLetters.Remove(deadLetterId);
                    deadLetter.Segment.RemoveLiveDeadLetter(deadLetterId, deadLetter.FrameLength);
                }
            }

            live.Segment?.RemoveLiveEvent(eventId, live.FrameLength);
            _events.Remove(eventId);
        }
    }

    /// <summary>
    /// Unfinished events by creation time, ties in log order, so re-dispatch keeps publish order even for events
    /// that compaction copied forward.
    /// </summary>
    public List<WalPendingEvent> GetPendingEvents()
    {
        var live = new List<LiveEvent>();
        foreach (var candidate in _events.Values)
        {
            if (candidate.Record is not null && candidate.Pending.Count > 0)
            {
                live.Add(candidate);
            }
        }

        live.Sort(static (a, b) =>
        {
            var byTime = a.Record!.CreatedAt.CompareTo(b.Record!.CreatedAt);
            return byTime != 0 ? byTime : a.Ordinal.CompareTo(b.Ordinal);
        });
        return live.ConvertAll(static e => new WalPendingEvent(e.Record!, e.Pending.ToArray()));
    }

    public List<WalDeadLetter> GetDeadLetters()
    {
        var deadLetters = new List<LiveDeadLetter>(_deadLetters.Values);
        deadLetters.Sort(static (a, b) =>
        {
            var byTime = a.Record.FailedAt.CompareTo(b.Record.FailedAt);
            return byTime != 0 ? byTime : a.Ordinal.CompareTo(b.Ordinal);
        });
        var result = new List<WalDeadLetter>(deadLetters.Count);
        foreach (var deadLetter in deadLetters)
        {
            if (_events.TryGetValue(deadLetter.Record.EventId, out var live) && live.Record is not null)
            {
                result.Add(new WalDeadLetter(deadLetter.Record, live.Record));
            }
        }

        return result;
    }

    private void RemoveIfDone(Guid eventId, LiveEvent live)
    {
        if (live.Pending.Count > 0 || live.DeadLetterRefs > 0)
        {
            return;
        }

        live.Segment?.RemoveLiveEvent(eventId, live.FrameLength);
        _events.Remove(eventId);
    }

    internal sealed class LiveEvent
    {
        /// <summary>Null while a dead letter waits for the (later) copy of its event during replay.</summary>
        public WalEventRecord? Record { get; set; }

        public WalSegment? Segment { get; set; }

        public int FrameLength { get; set; }

        public List<string> Pending { get; } = new(2);

        public int DeadLetterRefs { get; set; }

        /// <summary>First-seen order; survives compaction copies, which keep the entry.</summary>
        public long Ordinal { get; init; }
    }

    internal sealed record LiveDeadLetter(WalDeadLetterRecord Record, WalSegment Segment, int FrameLength, long Ordinal);
}
