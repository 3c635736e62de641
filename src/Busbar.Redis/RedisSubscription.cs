using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Busbar.Transport;
using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>
/// One consumer of one group: finds the streams its patterns match (names set + doorbell hints), creates the group on
/// each at <c>0</c>, reads with <c>XREADGROUP … &gt;</c> without blocking (doorbell + fallback poll), and runs the
/// janitor (<see cref="RedisSubscription"/>.Janitor.cs). Settling is in RedisSubscription.Settle.cs.
/// </summary>
/// <remarks>
/// The in-flight bound is a semaphore of <see cref="TransportSubscriptionOptions.MaxInFlight"/> slots: a read asks for
/// at most as many entries as slots are free, and a delivery gives its slot back when it is settled. While acks are on
/// their way (they free their slots together when their <c>XACK</c> is answered), the reader waits until half the room
/// (of the read batch or the in-flight bound, the smaller) is free, so reads stay full under load.
/// </remarks>
[DebuggerDisplay("{Group}: {InFlight} in flight, {_snapshot.Length} streams")]
internal sealed partial class RedisSubscription : ITransportSubscription
{
    private static readonly RedisValue EnvelopeFieldName = System.Text.Encoding.UTF8.GetBytes(RedisKeys.EnvelopeField);

    private readonly RedisContext _context;
    private readonly TransportSubscriptionOptions _options;
    private readonly Action<RedisSubscription> _onDisposed;
    private readonly EventNamePattern[] _patterns;
    private readonly RedisValue _group;
    private readonly SemaphoreSlim _slots;
    private readonly int _fullRead;
    private long _acksOnTheirWay;
    private readonly Channel<ITransportDelivery> _deliveries = Channel.CreateUnbounded<ITransportDelivery>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
    private readonly Signal _wake = new();
    private readonly Signal _janitorWake = new();
    private readonly ConcurrentQueue<string> _hints = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly object _lock = new();
    private readonly Dictionary<string, StreamRef> _streams = new(StringComparer.Ordinal);
    private StreamRef[] _snapshot = [];
    private int _rotation;
    private Task _reader = Task.CompletedTask;
    private Task _janitor = Task.CompletedTask;
    private int _disposed;

    public RedisSubscription(RedisContext context, TransportSubscriptionOptions options, Action<RedisSubscription> onDisposed)
    {
        _context = context;
        _options = options;
        _onDisposed = onDisposed;
        _patterns = [.. options.Patterns.Select(EventNamePattern.Parse)];
        _group = options.Group;
        _slots = new SemaphoreSlim(options.MaxInFlight, options.MaxInFlight);
        _fullRead = Math.Max(1, Math.Min(context.Options.ReadBatchSize, options.MaxInFlight) / 2);
        Patterns = [.. options.Patterns];
    }

    public string Group => _options.Group;

    public IReadOnlyList<string> Patterns { get; }

    public long InFlight => _options.MaxInFlight - _slots.CurrentCount;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await DiscoverAsync(hinted: null).WaitAsync(cancellationToken).ConfigureAwait(false);
        _reader = Task.Run(ReadLoopAsync, CancellationToken.None);
        _janitor = Task.Run(JanitorLoopAsync, CancellationToken.None);
    }

    // The channel's own enumerator, not a wrapper around it: one iterator step per delivery rather than two.
    public IAsyncEnumerable<ITransportDelivery> ReadAllAsync(CancellationToken cancellationToken = default) =>
        _deliveries.Reader.ReadAllAsync(cancellationToken);

    /// <summary>A doorbell: wake the reader, and remember names this group has not seen that its patterns match.</summary>
    public void Ring(string[] names)
    {
        foreach (var name in names)
        {
            bool known;
            lock (_lock)
                known = _streams.ContainsKey(name);
            if (!known && Matches(name))
                _hints.Enqueue(name);
        }

        _wake.Set();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_reader, _janitor).ConfigureAwait(false);
        _deliveries.Writer.TryComplete();
        _onDisposed(this);
        _stop.Dispose();
    }

    private bool Matches(string name)
    {
        foreach (var pattern in _patterns)
        {
            if (pattern.Matches(name))
                return true;
        }

        return false;
    }

    private async Task ReadLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                if (!_hints.IsEmpty)
                    await DiscoverAsync(DrainHints()).ConfigureAwait(false);
                var streams = Volatile.Read(ref _snapshot);
                if (streams.Length == 0)
                {
                    if (!await _wake.WaitAsync(_context.Options.FallbackPollInterval, token).ConfigureAwait(false))
                        await DiscoverAsync(hinted: null).ConfigureAwait(false);
                    continue;
                }

                await _slots.WaitAsync(token).ConfigureAwait(false);
                var taken = 1;
                while (taken < _context.Options.ReadBatchSize && _slots.Wait(0, CancellationToken.None))
                    taken++;

                var (got, coveredAll) = (0, true);
                try
                {
                    // Acks on their way free their slots together within a round trip: wait for them rather than read a
                    // few entries now and the rest after. Nothing else waits here, so a quiet consumer reads at once.
                    while (taken < _fullRead && Volatile.Read(ref _acksOnTheirWay) > 0)
                    {
                        await _slots.WaitAsync(token).ConfigureAwait(false);
                        taken++;
                        while (taken < _context.Options.ReadBatchSize && _slots.Wait(0, CancellationToken.None))
                            taken++;
                    }

                    (got, coveredAll) = await ReadOnceAsync(streams, taken).ConfigureAwait(false);
                }
                finally
                {
                    if (taken > got)
                        _slots.Release(taken - got);
                }

                if (got == 0 && coveredAll && !await _wake.WaitAsync(_context.Options.FallbackPollInterval, token).ConfigureAwait(false))
                {
                    // The fallback poll: a lost doorbell costs one interval, and names added meanwhile are found here.
                    await DiscoverAsync(hinted: null).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                RedisLog.ReadFailed(_context.Logger, ex, Group, _context.Options.FallbackPollInterval.TotalMilliseconds);
                try
                {
                    await Task.Delay(_context.Options.FallbackPollInterval, _context.Time, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    private List<string> DrainHints()
    {
        var names = new List<string>();
        while (_hints.TryDequeue(out var name))
            names.Add(name);
        return names;
    }

    /// <summary>
    /// One round: reads up to <paramref name="room"/> entries from the next streams in rotation, one XREADGROUP per hash
    /// slot so no read spans slots in a cluster.
    /// </summary>
    private async Task<(int Got, bool CoveredAll)> ReadOnceAsync(StreamRef[] streams, int room)
    {
        var start = _rotation++ % streams.Length;
        if (start < 0)
            start += streams.Length;
        var take = Math.Min(room, streams.Length);
        var chosen = new StreamRef[take];
        for (var i = 0; i < take; i++)
            chosen[i] = streams[(start + i) % streams.Length];

        var got = 0;
        foreach (var slotGroup in chosen.GroupBy(s => s.Slot))
        {
            var members = slotGroup.ToArray();
            var remaining = room - got;
            if (remaining <= 0)
                break;
            if (members.Length > remaining)
                members = members[..remaining];
            var count = Math.Max(1, remaining / members.Length);
            var positions = new StreamPosition[members.Length];
            for (var i = 0; i < members.Length; i++)
                positions[i] = new StreamPosition(members[i].Key, StreamPosition.NewMessages);
            RedisStream[] result;
            try
            {
                result = await _context.Database.StreamReadGroupAsync(positions, _group, _context.ConsumerName, count, CommandFlags.None).ConfigureAwait(false);
            }
            catch (RedisServerException ex) when (RedisContext.IsNoGroup(ex))
            {
                await RecreateGroupsAsync(members).ConfigureAwait(false);
                continue;
            }

            foreach (var stream in result)
            {
                var streamRef = members.First(m => m.Key == stream.Key);
                foreach (var entry in stream.Entries)
                {
                    if (entry.IsNull)
                        continue;
                    Deliver(streamRef, entry, deliveryCount: 1);
                    got++;
                }
            }
        }

        // Counted once per read, not once per entry.
        if (got > 0)
            _context.Metrics.Delivered.Add(got);

        return (got, take == streams.Length);
    }

    private void Deliver(StreamRef stream, StreamEntry entry, int deliveryCount)
    {
        // The reply's bytes as they are (a cast to byte[] may copy them). The field is found by its bytes: the reply's
        // names are raw values, and comparing one with a string value would decode it first.
        var envelope = RedisValue.Null;
        foreach (var field in entry.Values)
        {
            if (field.Name == EnvelopeFieldName)
            {
                envelope = field.Value;
                break;
            }
        }

        var delivery = new RedisDelivery(this, stream, entry.Id, deliveryCount, envelope.IsNull ? ReadOnlyMemory<byte>.Empty : (ReadOnlyMemory<byte>)envelope);
        _deliveries.Writer.TryWrite(delivery);
    }

    /// <summary>
    /// Adds the streams whose names match: from the names set (<paramref name="hinted"/> null) or from doorbell hints.
    /// Each new stream gets the group at <c>0</c>, so its first entries are not skipped.
    /// </summary>
    private async Task DiscoverAsync(IReadOnlyCollection<string>? hinted)
    {
        IEnumerable<string> candidates;
        if (hinted is null)
        {
            var members = await _context.Database.SetMembersAsync(_context.Keys.Names).ConfigureAwait(false);
            candidates = members.Select(m => (string?)m ?? string.Empty);
        }
        else
        {
            candidates = hinted;
        }

        var added = false;
        foreach (var name in candidates)
        {
            bool known;
            lock (_lock)
                known = _streams.ContainsKey(name);
            if (known || !RedisKeys.IsValidName(name) || !Matches(name))
                continue;
            var key = _context.Keys.Stream(name);
            await CreateGroupAsync(key).ConfigureAwait(false);
            if (hinted is not null)
                await _context.Database.SetAddAsync(_context.Keys.Names, name).ConfigureAwait(false);
            lock (_lock)
                _streams[name] = new StreamRef(name, key, _context.Connection.HashSlot(key));
            RedisLog.StreamAdded(_context.Logger, Group, name);
            added = true;
        }

        if (added)
        {
            lock (_lock)
                Volatile.Write(ref _snapshot, [.. _streams.Values]);
        }
    }

    /// <summary>Creates the group at the start of the stream (creating the stream too); returns false when it existed.</summary>
    private async Task<bool> CreateGroupAsync(RedisKey key)
    {
        try
        {
            return await _context.Database.StreamCreateConsumerGroupAsync(key, _group, StreamPosition.Beginning, createStream: true).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (RedisContext.IsBusyGroup(ex))
        {
            return false;
        }
    }

    /// <summary>NOGROUP on streams this group was reading: the server lost them. Create them again and raise the alarm.</summary>
    private async Task RecreateGroupsAsync(IEnumerable<StreamRef> streams)
    {
        foreach (var stream in streams)
        {
            if (await CreateGroupAsync(stream.Key).ConfigureAwait(false))
            {
                await _context.Database.SetAddAsync(_context.Keys.Names, stream.Name).ConfigureAwait(false);
                _context.GroupRecreated(Group, stream.Name);
            }
        }
    }

    /// <summary>One stream this group reads, with its <see cref="AckBatcher"/> once the first ack needed it.</summary>
    internal sealed record StreamRef(string Name, RedisKey Key, int Slot)
    {
        /// <summary>Set once (first ack), read by every ack after: no lookup by key per ack.</summary>
        internal AckBatcher? Acks;
    }
}
