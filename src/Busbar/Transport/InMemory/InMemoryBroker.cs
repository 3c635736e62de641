using System.Diagnostics;
using System.Threading.Channels;
using Busbar.Routing;

namespace Busbar.Transport;

/// <summary>
/// The in-memory broker behind <see cref="InMemoryTransport"/>: an append-only log of messages (as a
/// Redis stream keeps them), groups that read it from the start, leases, delayed retries and dead letters.
/// </summary>
/// <remarks>
/// One lock guards all state. A delivery is written to its subscription's channel under it, as it is assigned: writes made
/// after the lock was released would race (a thread that assigned an earlier message could write it after another thread
/// wrote later ones), and a consumer would receive the group's messages out of log order. The channels run no reader code
/// in the write (their continuations are asynchronous). A timer sweeps expired leases and due retries.
/// </remarks>
internal sealed class InMemoryBroker : IAsyncDisposable
{
    private readonly object _lock = new();
    private readonly InMemoryTransportOptions _options;
    private readonly TimeProvider _time;
    private readonly List<StoredMessage> _log = [];
    private readonly Dictionary<string, BrokerGroup> _groups = new(StringComparer.Ordinal);
    private readonly List<TransportDeadLetter> _deadLetters = [];
    private readonly ITimer _sweeper;
    private Tail[] _tails = [];
    private long _nextDeadLetterId;
    private bool _disposed;

    /// <summary>
    /// Tests only: runs on the settling thread once a settlement released the lock, before <see cref="Settle"/> returns, so a
    /// test can hold that thread there while others settle (see TransportOrderingTests).
    /// </summary>
    internal Action<InMemoryDelivery>? AfterSettle { get; set; }

    public InMemoryBroker(InMemoryTransportOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        var period = TimeSpan.FromTicks(Math.Clamp(options.Lease.Ticks / 4, TimeSpan.FromMilliseconds(5).Ticks, TimeSpan.FromMilliseconds(100).Ticks));
        _sweeper = time.CreateTimer(static state => ((InMemoryBroker)state!).Sweep(), this, period, period);
    }

    public IEventTransport CreateTransport(bool ownsBroker) => new InMemoryEventTransport(this, ownsBroker);

    public void Publish(IReadOnlyList<TransportMessage> messages)
    {
        var stored = new StoredMessage[messages.Count];
        Tail[] tails;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            tails = _tails;
            for (var i = 0; i < messages.Count; i++)
                stored[i] = StoreLocked(messages[i].Name, messages[i].Envelope.ToArray());
            AssignAllLocked();
        }

        Notify(tails, stored);
    }

    /// <summary>Starts a tail: the messages published from now on whose names match, written to a bounded channel that drops its oldest when the reader falls behind.</summary>
    public ChannelReader<TransportMessage> StartTail(IReadOnlyList<TopicPattern> patterns, CancellationToken cancellationToken)
    {
        var tail = new Tail(patterns, Channel.CreateBounded<TransportMessage>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true }));
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _tails = [.. _tails, tail];
        }

        cancellationToken.Register(static state =>
        {
            var (broker, tail) = ((InMemoryBroker, Tail))state!;
            lock (broker._lock)
                broker._tails = [.. broker._tails.Where(t => t != tail)];
            tail.Channel.Writer.TryComplete();
        }, (this, tail));
        return tail.Channel.Reader;
    }

    /// <summary>Publishes a dead letter's envelope again under its name and removes the dead letter; false when there is none with the id.</summary>
    public bool Redrive(string id)
    {
        StoredMessage stored;
        Tail[] tails;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var index = _deadLetters.FindIndex(d => d.Id == id);
            if (index < 0)
                return false;
            var letter = _deadLetters[index];
            if (letter.Envelope.IsEmpty || EventNaming.Validate(letter.Name) is not null)
                throw new InvalidOperationException($"The dead letter {id} has no envelope or no valid event name ('{letter.Name}'): it cannot be re-driven.");
            _deadLetters.RemoveAt(index);
            tails = _tails;
            stored = StoreLocked(letter.Name, letter.Envelope.ToArray());
            AssignAllLocked();
        }

        Notify(tails, [stored]);
        return true;
    }

    private static void Notify(Tail[] tails, StoredMessage[] stored)
    {
        foreach (var tail in tails)
        {
            foreach (var message in stored)
            {
                if (tail.Matches(message.Name))
                    tail.Channel.Writer.TryWrite(new TransportMessage(Guid.Empty, message.Name, message.Envelope));
            }
        }
    }

    /// <summary>Appends a message to the log and queues it for every group it matches; the caller assigns afterwards.</summary>
    private StoredMessage StoreLocked(string name, ReadOnlyMemory<byte> envelope)
    {
        var stored = new StoredMessage(_log.Count + 1, name, envelope);
        _log.Add(stored);
        foreach (var group in _groups.Values)
        {
            if (group.Matches(stored.Name) && group.Seen.Add(stored.Sequence))
                group.Ready.Enqueue(new Pending(stored, 0));
        }

        return stored;
    }

    private void AssignAllLocked()
    {
        foreach (var group in _groups.Values)
            AssignLocked(group);
    }

    public InMemorySubscription Subscribe(TransportSubscriptionOptions options)
    {
        InMemorySubscription subscription;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_groups.TryGetValue(options.Group, out var group))
                _groups[options.Group] = group = new BrokerGroup(options.Group);
            subscription = new InMemorySubscription(this, group, options);
            foreach (var pattern in options.Patterns)
            {
                var parsed = TopicPattern.Parse(pattern);
                if (!group.AddPattern(parsed))
                    continue;

                // A durable group starts at the beginning: messages already in the log that the new pattern
                // matches, and no earlier pattern of the group did, are the group's from now on.
                foreach (var stored in _log)
                {
                    if (parsed.Matches(stored.Name) && group.Seen.Add(stored.Sequence))
                        group.Ready.Enqueue(new Pending(stored, 0));
                }
            }

            group.Subscriptions.Add(subscription);
            AssignLocked(group);
        }

        return subscription;
    }

    public void Unsubscribe(InMemorySubscription subscription)
    {
        lock (_lock)
            subscription.Group.Subscriptions.Remove(subscription);
    }

    /// <summary>Tests only: how many of the group's messages are out on a lease (handed to a consumer, not settled).</summary>
    internal int LeasedCount(string group)
    {
        lock (_lock)
            return _groups.TryGetValue(group, out var found) ? found.Leased.Count : 0;
    }

    /// <summary>Tests only: how many of the group's messages wait for their retry delay to pass.</summary>
    internal int DelayedCount(string group)
    {
        lock (_lock)
            return _groups.TryGetValue(group, out var found) ? found.Delayed.Count : 0;
    }

    public IReadOnlyList<TransportDeadLetter> ReadDeadLetters(int maxCount)
    {
        lock (_lock)
            return _deadLetters.Take(maxCount).ToArray();
    }

    /// <summary>Settles a delivery; returns false when its lease had already expired (the message was given out again).</summary>
    public bool Settle(InMemoryDelivery delivery, Settlement settlement, TimeSpan delay, string? reason)
    {
        lock (_lock)
        {
            var group = delivery.Subscription.Group;
            if (!group.Leased.TryGetValue(delivery.Message.Sequence, out var lease) || !ReferenceEquals(lease.Delivery, delivery))
                return false;

            if (settlement == Settlement.ExtendLease)
            {
                group.Leased[delivery.Message.Sequence] = lease with { ExpiresAt = _time.GetUtcNow() + _options.Lease };
                return true;
            }

            group.Leased.Remove(delivery.Message.Sequence);
            delivery.Subscription.InFlight--;
            switch (settlement)
            {
                case Settlement.Ack:
                    break;
                case Settlement.Terminate:
                    DeadLetterLocked(group, delivery.Message, delivery.DeliveryCount, reason!);
                    break;
                case Settlement.RetryLater when delay <= TimeSpan.Zero:
                    RequeueLocked(group, new Pending(delivery.Message, delivery.DeliveryCount));
                    break;
                case Settlement.RetryLater:
                    group.Delayed.Add(new Delayed(new Pending(delivery.Message, delivery.DeliveryCount), _time.GetUtcNow() + delay));
                    break;
            }

            AssignLocked(group);
        }

        AfterSettle?.Invoke(delivery);
        return true;
    }

    private void Sweep()
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            var now = _time.GetUtcNow();
            foreach (var group in _groups.Values)
            {
                List<long>? expired = null;
                foreach (var (sequence, lease) in group.Leased)
                {
                    if (lease.ExpiresAt <= now)
                        (expired ??= []).Add(sequence);
                }

                if (expired is not null)
                {
                    foreach (var sequence in expired)
                    {
                        var lease = group.Leased[sequence];
                        group.Leased.Remove(sequence);
                        lease.Delivery.Subscription.InFlight--;
                        RequeueLocked(group, new Pending(lease.Delivery.Message, lease.Delivery.DeliveryCount));
                    }
                }

                for (var i = group.Delayed.Count - 1; i >= 0; i--)
                {
                    if (group.Delayed[i].DueAt <= now)
                    {
                        RequeueLocked(group, group.Delayed[i].Pending);
                        group.Delayed.RemoveAt(i);
                    }
                }

                AssignLocked(group);
            }
        }
    }

    private void RequeueLocked(BrokerGroup group, Pending pending)
    {
        if (pending.Delivered >= _options.MaxDeliveries)
            DeadLetterLocked(group, pending.Message, pending.Delivered, $"MaxDeliveries: delivered {pending.Delivered} times, the maximum");
        else
            group.Ready.Enqueue(pending);
    }

    private void DeadLetterLocked(BrokerGroup group, StoredMessage message, int deliveryCount, string reason) =>
        _deadLetters.Add(new TransportDeadLetter
        {
            Id = (++_nextDeadLetterId).ToString(System.Globalization.CultureInfo.InvariantCulture),
            Group = group.Name,
            Name = message.Name,
            DeliveryId = message.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture),
            DeliveryCount = deliveryCount,
            Reason = reason,
            FailedAt = _time.GetUtcNow(),
            Envelope = message.Envelope,
        });

    /// <summary>Gives ready messages to subscriptions with room, round robin, writing each to its subscription's channel in that order.</summary>
    private void AssignLocked(BrokerGroup group)
    {
        var subscriptions = group.Subscriptions;
        if (subscriptions.Count == 0)
            return;
        var expiresAt = _time.GetUtcNow() + _options.Lease;
        while (group.Ready.Count > 0)
        {
            InMemorySubscription? target = null;
            for (var i = 0; i < subscriptions.Count; i++)
            {
                var candidate = subscriptions[(group.NextSubscription + i) % subscriptions.Count];
                if (candidate.InFlight < candidate.MaxInFlight && !candidate.IsClosed)
                {
                    target = candidate;
                    group.NextSubscription = (group.NextSubscription + i + 1) % subscriptions.Count;
                    break;
                }
            }

            if (target is null)
                return;
            var pending = group.Ready.Dequeue();
            var delivery = new InMemoryDelivery(target, pending.Message, pending.Delivered + 1);
            target.InFlight++;
            group.Leased[pending.Message.Sequence] = new Lease(delivery, expiresAt);
            target.Offer(delivery);
        }
    }

    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            _disposed = true;
        }

        await _sweeper.DisposeAsync().ConfigureAwait(false);
    }

    private sealed record Tail(IReadOnlyList<TopicPattern> Patterns, Channel<TransportMessage> Channel)
    {
        public bool Matches(string name)
        {
            foreach (var pattern in Patterns)
            {
                if (pattern.Matches(name))
                    return true;
            }

            return false;
        }
    }

    internal sealed record StoredMessage(long Sequence, string Name, ReadOnlyMemory<byte> Envelope);

    internal readonly record struct Pending(StoredMessage Message, int Delivered);

    internal readonly record struct Delayed(Pending Pending, DateTimeOffset DueAt);

    internal readonly record struct Lease(InMemoryDelivery Delivery, DateTimeOffset ExpiresAt);

    internal enum Settlement
    {
        Ack,
        RetryLater,
        Terminate,
        ExtendLease,
    }

    [DebuggerDisplay("{Name}: {Ready.Count} ready, {Leased.Count} leased, {Delayed.Count} delayed")]
    internal sealed class BrokerGroup(string name)
    {
        private readonly List<TopicPattern> _patterns = [];

        public string Name { get; } = name;

        public Queue<Pending> Ready { get; } = new();

        public Dictionary<long, Lease> Leased { get; } = [];

        public List<Delayed> Delayed { get; } = [];

        public HashSet<long> Seen { get; } = [];

        public List<InMemorySubscription> Subscriptions { get; } = [];

        public int NextSubscription { get; set; }

        public bool AddPattern(TopicPattern pattern)
        {
            foreach (var existing in _patterns)
            {
                if (existing.Text == pattern.Text)
                    return false;
            }

            _patterns.Add(pattern);
            return true;
        }

        public bool Matches(string name)
        {
            foreach (var pattern in _patterns)
            {
                if (pattern.Matches(name))
                    return true;
            }

            return false;
        }
    }
}
