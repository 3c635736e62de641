using System.Collections.Concurrent;
using Busbar.Transport;
using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>
/// The Redis Streams transport: publishes with a bounded window of pipelined XADDs and coalesced doorbell notices (at most one on its way),
/// and runs one <see cref="RedisSubscription"/> (reader + janitor) per subscribe call.
/// </summary>
internal sealed class RedisEventTransport : IRedisTransport
{
    private readonly RedisContext _context;
    private readonly Version _version;
    private readonly SemaphoreSlim _window;
    private readonly SemaphoreSlim _sendOrder = new(1, 1);
    private readonly ConcurrentDictionary<string, byte> _registeredNames = new(StringComparer.Ordinal);
    private readonly object _lock = new();
    private RedisSubscription[] _subscriptions = [];

    // Doorbell coalescing: names written since the last notice was sent, and whether a notice is on its way.
    private readonly object _ringLock = new();
    private readonly HashSet<string> _ringNames = new(StringComparer.Ordinal);
    private bool _ringing;
    private RedisTail[] _tails = [];
    private int _disposed;

    public RedisEventTransport(RedisContext context, Version version)
    {
        _context = context;
        _version = version;
        _window = new SemaphoreSlim(context.Options.PublishWindow, context.Options.PublishWindow);
    }

    public RedisTransportStatus Status
    {
        get
        {
            long inFlight = 0;
            foreach (var subscription in Volatile.Read(ref _subscriptions))
                inFlight += subscription.InFlight;
            var (pending, lag) = _context.Metrics.Worst();
            return new RedisTransportStatus
            {
                MaxGroupLag = lag,
                MaxGroupPending = pending,
                IsConnected = _context.Connection.IsConnected,
                ServerVersion = _version,
                GroupsRecreated = _context.GroupsRecreated,
                EntriesLostToCap = _context.LostToCap,
                LastAlarm = _context.LastAlarm,
                InFlight = inFlight,
            };
        }
    }

    public async Task StartAsync()
    {
        var subscriber = _context.Connection.GetSubscriber();
        await subscriber.SubscribeAsync(_context.Keys.Doorbell, (_, message) => OnDoorbell(message)).ConfigureAwait(false);
    }

    public async ValueTask PublishAsync(IReadOnlyList<TransportMessage> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (messages.Count == 0)
            return;
        foreach (var message in messages)
        {
            if (!RedisKeys.IsValidName(message.Name))
                throw new ArgumentException($"'{message.Name}' is not a valid event name (dotted segments of letters, digits, '_' and '-').", nameof(messages));
            if (message.Envelope.IsEmpty)
                throw new ArgumentException($"The message {message.EventId} of '{message.Name}' has no envelope.", nameof(messages));
        }

        var pending = new Task[messages.Count];
        var started = 0;
        Exception? failure = null;

        // Calls send in call order: a call waits here until the one before it has sent all its messages (not for their replies).
        if (!_sendOrder.Wait(0, CancellationToken.None))
            await _sendOrder.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await RegisterNamesAsync(messages).ConfigureAwait(false);
            for (; started < messages.Count; started++)
            {
                await AcquireWindowAsync(cancellationToken).ConfigureAwait(false);
                pending[started] = AddAsync(messages[started]);
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        finally
        {
            _sendOrder.Release();
        }

        if (failure is not null)
        {
            // What was sent may still be stored; wait for those answers so the window stays accounted.
            for (var i = 0; i < started; i++)
            {
                try
                {
                    await pending[i].ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // The caller gets the first failure below; this one's answer no longer matters.
                }
            }

            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
        _context.Metrics.Published.Add(messages.Count);

        Ring(messages);
    }

    /// <summary>
    /// Rings the doorbell for names whose entries are stored. At most one notice is on its way at a time: names
    /// stored meanwhile wait for its reply and go out together in the next one, so every stored entry is followed by a
    /// notice sent after it, and many concurrent publishers cost a few notices instead of one per batch. A notice is a
    /// hint; a lost one costs readers one fallback interval.
    /// </summary>
    private void Ring(IReadOnlyList<TransportMessage> messages)
    {
        lock (_ringLock)
        {
            foreach (var message in messages)
                _ringNames.Add(message.Name);
            if (_ringing)
                return;
            _ringing = true;
        }

        SendRing();
    }

    private void SendRing()
    {
        string text;
        lock (_ringLock)
        {
            if (_ringNames.Count == 0 || Volatile.Read(ref _disposed) != 0)
            {
                _ringing = false;
                return;
            }

            text = string.Join('\n', _ringNames);
            _ringNames.Clear();
        }

        Task sent;
        try
        {
            sent = _context.Connection.GetSubscriber().PublishAsync(_context.Keys.Doorbell, text);
        }
        catch (Exception)
        {
            sent = Task.CompletedTask;
        }

        _ = sent.ContinueWith(static (task, state) =>
        {
            _ = task.Exception; // observed: a failed notice is only a hint lost
            ((RedisEventTransport)state!).SendRing();
        }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public async ValueTask<ITransportSubscription> SubscribeAsync(TransportSubscriptionOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var subscription = new RedisSubscription(_context, options, Remove);
        await subscription.StartAsync(cancellationToken).ConfigureAwait(false);
        bool disposed;
        lock (_lock)
        {
            disposed = Volatile.Read(ref _disposed) != 0;
            if (!disposed)
                _subscriptions = [.. _subscriptions, subscription];
        }

        if (disposed)
        {
            // The transport was disposed while this subscription started: stop it before refusing.
            await subscription.DisposeAsync().ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(RedisEventTransport));
        }

        return subscription;
    }

    public async ValueTask<IReadOnlyList<TransportDeadLetter>> ReadDeadLettersAsync(int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        var entries = await _context.Database.StreamRangeAsync(_context.Keys.DeadLetters, "-", "+", maxCount).WaitAsync(cancellationToken).ConfigureAwait(false);
        var letters = new List<TransportDeadLetter>(entries.Length);
        foreach (var entry in entries)
        {
            if (!entry.IsNull)
                letters.Add(RedisDeadLetters.Read(entry));
        }

        return letters;
    }

    public async ValueTask<bool> RedriveDeadLetterAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!StreamId.TryParse(id, out _))
            return false;
        var entries = await _context.Database.StreamRangeAsync(_context.Keys.DeadLetters, id, id, 1).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (entries.Length == 0 || entries[0].IsNull)
            return false;
        var letter = RedisDeadLetters.Read(entries[0]);
        if (letter.Envelope.IsEmpty || !RedisKeys.IsValidName(letter.Name))
            throw new InvalidOperationException($"The dead letter {id} has no envelope or no valid event name ('{letter.Name}'): it cannot be re-driven.");

        // Add before delete: a failure in between leaves a duplicate (handlers deduplicate by event id), never a loss.
        // Two separate commands, not a script: the stream and the dead-letter stream may live in different cluster slots.
        await _context.Database.SetAddAsync(_context.Keys.Names, letter.Name).ConfigureAwait(false);
        await _context.Database.StreamAddAsync(_context.Keys.Stream(letter.Name), RedisKeys.EnvelopeField, letter.Envelope).ConfigureAwait(false);
        await _context.Database.StreamDeleteAsync(_context.Keys.DeadLetters, [id]).ConfigureAwait(false);
        _context.Connection.GetSubscriber().Publish(_context.Keys.Doorbell, letter.Name, CommandFlags.FireAndForget);
        return true;
    }

    public IAsyncEnumerable<TransportMessage> TailAsync(IReadOnlyList<string> patterns, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        if (patterns.Count == 0)
            throw new ArgumentException("A tail needs at least one event-name pattern ('*' for every event).", nameof(patterns));
        var parsed = patterns.Select(EventNamePattern.Parse).ToArray();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var tail = new RedisTail(_context, parsed);
        lock (_lock)
            _tails = [.. _tails, tail];

        // It ends with the token, or when the enumeration is disposed (an early break), whichever comes first.
        var end = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        end.Token.Register(static state =>
        {
            var (transport, tail) = ((RedisEventTransport, RedisTail))state!;
            lock (transport._lock)
                transport._tails = [.. transport._tails.Where(t => t != tail)];
        }, (this, tail));

        // Where each stream ends is read now, not at the first MoveNextAsync: "from now on" means from this call.
        return tail.ReadAsync(tail.StartAsync(), end);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        RedisSubscription[] subscriptions;
        lock (_lock)
            subscriptions = _subscriptions;
        foreach (var subscription in subscriptions)
            await subscription.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _context.Connection.GetSubscriber().UnsubscribeAsync(_context.Keys.Doorbell).ConfigureAwait(false);
            await _context.Connection.CloseAsync(allowCommandsToComplete: true).ConfigureAwait(false);
        }
        catch (RedisException)
        {
            // The server is gone; closing is all that was left to do.
        }

        await _context.Connection.DisposeAsync().ConfigureAwait(false);
        _context.Metrics.Dispose();
        _window.Dispose();
    }

    private async ValueTask AcquireWindowAsync(CancellationToken cancellationToken)
    {
        if (_window.Wait(0, CancellationToken.None))
            return;
        if (_context.Options.PublishFullMode == BusFullMode.Reject)
            throw new BusFullException($"The Redis publish window is full ({_context.Options.PublishWindow} XADD commands await their reply; RedisTransportOptions.PublishFullMode is Reject).");
        await _window.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task AddAsync(TransportMessage message)
    {
        try
        {
            await _context.Database.StreamAddAsync(
                _context.Keys.Stream(message.Name),
                RedisKeys.EnvelopeField,
                message.Envelope,
                messageId: null,
                maxLength: (int?)null,
                useApproximateMaxLength: false,
                flags: CommandFlags.None).ConfigureAwait(false);
        }
        finally
        {
            _window.Release();
        }
    }

    /// <summary>Adds new names to the names set before their first entry exists, so a pattern subscriber finds the stream and creates its group at 0.</summary>
    private async ValueTask RegisterNamesAsync(IReadOnlyList<TransportMessage> messages)
    {
        List<RedisValue>? added = null;
        foreach (var message in messages)
        {
            if (!_registeredNames.ContainsKey(message.Name) && (added is null || !added.Contains(message.Name)))
                (added ??= []).Add(message.Name);
        }

        if (added is null)
            return;
        await _context.Database.SetAddAsync(_context.Keys.Names, [.. added]).ConfigureAwait(false);
        foreach (var name in added)
            _registeredNames.TryAdd(name!, 0);
    }

    private void OnDoorbell(RedisValue message)
    {
        var text = (string?)message;
        if (text is null)
            return;
        var names = text.Split('\n');
        foreach (var subscription in Volatile.Read(ref _subscriptions))
            subscription.Ring(names);
        foreach (var tail in Volatile.Read(ref _tails))
            tail.Ring();
    }

    private void Remove(RedisSubscription subscription)
    {
        lock (_lock)
            _subscriptions = [.. _subscriptions.Where(s => s != subscription)];
    }
}
