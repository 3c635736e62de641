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
    // The names this transport wrote to the names set, with their stream keys (built once per name, not per message).
    private readonly ConcurrentDictionary<string, RedisKey> _registeredNames = new(StringComparer.Ordinal);
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

    /// <summary>Window places free now (tests: every call gives all its places back).</summary>
    internal int FreeWindowPlaces => _window.CurrentCount;

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
        var count = messages.Count;
        if (count == 0)
            return;

        // Indexed loops over the list: a foreach over the interface would allocate an enumerator per pass.
        for (var i = 0; i < count; i++)
        {
            var message = messages[i];
            if (!RedisKeys.IsValidName(message.Name))
                throw new ArgumentException($"'{message.Name}' is not a valid event name (dotted segments of letters, digits, '_' and '-').", nameof(messages));
            if (message.Envelope.IsEmpty)
                throw new ArgumentException($"The message {message.EventId} of '{message.Name}' has no envelope.", nameof(messages));
        }

        // Each XADD holds a place in the window from its sending until this call has read its reply. A call gives its places
        // back itself: while it sends, a full window passes the place of its oldest answered XADD to the next one (see
        // WaitForPlaceAsync); the rest once every reply is in. No continuation per message (the client would run each as
        // a thread-pool item), and a call larger than the window never waits for itself.
        var pending = new Task[count];
        var started = 0;
        var reclaimed = 0;
        Exception? failure = null;

        // Calls send in call order: a call waits here until the one before it has sent all its messages (not for their replies).
        if (!_sendOrder.Wait(0, CancellationToken.None))
            await _sendOrder.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var registering = RegisterNamesAsync(messages);
            if (!registering.IsCompletedSuccessfully)
                await registering.ConfigureAwait(false);
            for (; started < count; started++)
            {
                if (!_window.Wait(0, CancellationToken.None))
                {
                    // The window is full: the place of this call's oldest answered XADD passes to this one.
                    if (reclaimed < started && pending[reclaimed].IsCompleted)
                        reclaimed++;
                    else
                        reclaimed = await WaitForPlaceAsync(pending, reclaimed, started, cancellationToken).ConfigureAwait(false);
                }

                pending[started] = Add(messages[started]);
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

            ReleasePlaces(started - reclaimed);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }

        // One after the other rather than Task.WhenAll: replies come in order, so most are already answered when their turn
        // comes, and each await of an answered task costs nothing. The first failure is thrown once every reply is in.
        Exception? refused = null;
        for (var i = 0; i < count; i++)
        {
            try
            {
                await pending[i].ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                refused ??= ex;
            }
        }

        ReleasePlaces(count - reclaimed);
        if (refused is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(refused);
        _context.Metrics.Published.Add(count);

        Ring(messages);
    }

    private void Ring(IReadOnlyList<TransportMessage> messages)
    {
        lock (_ringLock)
        {
            for (var i = 0; i < messages.Count; i++)
                _ringNames.Add(messages[i].Name);
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

    /// <summary>
    /// The window is full and none of this call's XADDs is answered yet: refuses under <see cref="BusFullMode.Reject"/>;
    /// otherwise waits for this call's oldest XADD to be answered and passes its place on (replies arrive in order), or,
    /// with none of its own on their way, for another call to give a place back. Returns how many of this call's places
    /// were passed on; throws only before passing one.
    /// </summary>
    private async ValueTask<int> WaitForPlaceAsync(Task[] pending, int reclaimed, int started, CancellationToken cancellationToken)
    {
        if (_context.Options.PublishFullMode == BusFullMode.Reject)
            throw new BusFullException($"The Redis publish window is full ({_context.Options.PublishWindow} XADD commands await their reply; RedisTransportOptions.PublishFullMode is Reject).");
        if (reclaimed < started)
        {
            try
            {
                await pending[reclaimed].WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // Its outcome is read once every reply is in; here it only frees a place.
            }

            return reclaimed + 1;
        }

        await _window.WaitAsync(cancellationToken).ConfigureAwait(false);
        return reclaimed;
    }

    private void ReleasePlaces(int places)
    {
        if (places > 0)
            _window.Release(places);
    }

    /// <summary>Sends one <c>XADD</c> (its window place already taken). Never throws: a failure is the returned task's.</summary>
    private Task Add(TransportMessage message)
    {
        try
        {
            return _context.Database.StreamAddAsync(
                StreamKey(message.Name),
                RedisKeys.EnvelopeField,
                message.Envelope,
                messageId: null,
                maxLength: (int?)null,
                useApproximateMaxLength: false,
                flags: CommandFlags.None);
        }
        catch (Exception ex)
        {
            return Task.FromException(ex);
        }
    }

    /// <summary>The stream key of a name this transport registered (see <see cref="RegisterNamesAsync"/>).</summary>
    private RedisKey StreamKey(string name) =>
        _registeredNames.TryGetValue(name, out var key) ? key : _context.Keys.Stream(name);

    /// <summary>Adds names this transport has not written yet to the names set; completes at once when every name is known.</summary>
    private ValueTask RegisterNamesAsync(IReadOnlyList<TransportMessage> messages)
    {
        List<string>? added = null;
        for (var i = 0; i < messages.Count; i++)
        {
            var name = messages[i].Name;
            if (!_registeredNames.ContainsKey(name) && (added is null || !added.Contains(name)))
                (added ??= []).Add(name);
        }

        return added is null ? ValueTask.CompletedTask : RegisterAsync(added);
    }

    private async ValueTask RegisterAsync(List<string> added)
    {
        await _context.Database.SetAddAsync(_context.Keys.Names, [.. added.Select(name => (RedisValue)name)]).ConfigureAwait(false);
        foreach (var name in added)
            _registeredNames.TryAdd(name, _context.Keys.Stream(name));
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
