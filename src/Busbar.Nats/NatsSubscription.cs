using System.Diagnostics;
using System.Threading.Channels;
using Busbar.Transport;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Busbar.Nats;

/// <summary>
/// One instance's membership in a group: the group's durable pull consumers (one with several filter subjects where the
/// server has them and the patterns do not overlap, else one per pattern), each read by a loop that pulls exactly as many
/// messages as the in-flight bound has room for. Settling is in NatsSubscription.Settle.cs.
/// </summary>
/// <remarks>
/// <para>With one consumer per pattern, an event two of the group's patterns match is stored once but delivered by both
/// consumers. The first pattern in the group's list that matches the event's name owns it: the other consumer acknowledges
/// it unhandled (<c>busbar.nats.skipped</c>). Every instance of the group decides the same way because the pattern list is
/// part of each consumer's recorded configuration, and a different list is refused at start.</para>
/// <para>The in-flight bound is a semaphore of <see cref="TransportSubscriptionOptions.MaxInFlight"/> slots: a pull asks
/// for at most as many messages as slots are free, and a delivery gives its slot back when it is settled, so nothing waits
/// in a client-side buffer while its lease runs.</para>
/// </remarks>
[DebuggerDisplay("Group = {Group}, Consumers = {_consumers.Length}, InFlight = {InFlight}, Pending = {Pending}")]
internal sealed partial class NatsSubscription : ITransportSubscription
{
    private readonly NatsContext _context;
    private readonly TransportSubscriptionOptions _options;
    private readonly Action<NatsSubscription> _onDisposed;
    private readonly EventNamePattern[] _patterns;
    private readonly SemaphoreSlim _slots;
    private readonly Channel<ITransportDelivery> _deliveries = Channel.CreateUnbounded<ITransportDelivery>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
    private readonly CancellationTokenSource _stop = new();
    private ConsumerRef[] _consumers = [];
    private Task[] _loops = [];
    private long _handedOut;
    private int _disposed;

    public NatsSubscription(NatsContext context, TransportSubscriptionOptions options, Action<NatsSubscription> onDisposed)
    {
        _context = context;
        _options = options;
        _onDisposed = onDisposed;
        _patterns = [.. options.Patterns.Select(EventNamePattern.Parse)];
        _slots = new SemaphoreSlim(options.MaxInFlight, options.MaxInFlight);
        Patterns = [.. options.Patterns];
    }

    public string Group => _options.Group;

    public IReadOnlyList<string> Patterns { get; }

    /// <summary>Deliveries handed out and not yet settled (slots reserved by an open pull do not count).</summary>
    public long InFlight => Interlocked.Read(ref _handedOut);

    public long Pending { get; private set; }

    public long Redelivered { get; private set; }

    /// <summary>The consumers of this group, as laid out for the connected server (exposed for tests and diagnostics).</summary>
    internal IReadOnlyList<ConsumerRef> Consumers => _consumers;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var layout = Layout(Patterns, _context.Options.SubjectPrefix, _context.Features);
        var consumers = new ConsumerRef[layout.Count];
        for (var i = 0; i < layout.Count; i++)
        {
            var config = _context.Topology.Consumer(Group, Patterns, layout[i].Filters);
            var handle = await _context.Topology.EnsureConsumerAsync(config, cancellationToken).ConfigureAwait(false);
            consumers[i] = new ConsumerRef(config, layout[i].PatternIndex, handle);
            NatsLog.ConsumerReady(_context.Logger, Group, config.Name!, string.Join(' ', layout[i].Filters));
        }

        _consumers = consumers;
        var cap = Math.Max(1, _options.MaxInFlight / consumers.Length);
        _loops = [.. consumers.Select(c => Task.Run(() => ReadLoopAsync(c, cap), CancellationToken.None)), Task.Run(StatusLoopAsync, CancellationToken.None)];
    }

    // The channel's own enumerator, not a wrapper around it: one iterator step per delivery rather than two.
    public IAsyncEnumerable<ITransportDelivery> ReadAllAsync(CancellationToken cancellationToken = default) =>
        _deliveries.Reader.ReadAllAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(false);
        _deliveries.Writer.TryComplete();
        _onDisposed(this);
        _stop.Dispose();
    }

    /// <summary>
    /// The group's consumers: one with every filter where the server takes several and no two overlap (2.10+ refuses
    /// overlapping filters), else one per distinct filter, owning the events of its pattern that no earlier pattern matches.
    /// </summary>
    internal static List<(int? PatternIndex, string[] Filters)> Layout(IReadOnlyList<string> patterns, string prefix, NatsServerFeatures features)
    {
        var filters = patterns.Select(p => NatsSubjects.Filter(prefix, p)).Distinct(StringComparer.Ordinal).ToArray();
        var layout = new List<(int? PatternIndex, string[] Filters)>();
        if (filters.Length > 1 && features.MultipleFilterSubjects && !AnyOverlap(filters))
        {
            layout.Add((null, filters));
            return layout;
        }

        foreach (var filter in filters)
        {
            var index = 0;
            while (NatsSubjects.Filter(prefix, patterns[index]) != filter)
                index++;
            layout.Add((index, [filter]));
        }

        return layout;
    }

    private static bool AnyOverlap(string[] filters)
    {
        for (var i = 0; i < filters.Length; i++)
        {
            for (var j = i + 1; j < filters.Length; j++)
            {
                if (NatsSubjects.Overlap(filters[i], filters[j]))
                    return true;
            }
        }

        return false;
    }

    private async Task ReadLoopAsync(ConsumerRef consumer, int cap)
    {
        var token = _stop.Token;
        var failures = 0;
        while (!token.IsCancellationRequested)
        {
            var taken = 0;
            var got = 0;
            try
            {
                await _slots.WaitAsync(token).ConfigureAwait(false);
                taken = 1;
                while (taken < cap && _slots.Wait(0, CancellationToken.None))
                    taken++;
                var fetch = new NatsJSFetchOpts { MaxMsgs = taken, Expires = _context.Options.PullExpiry };
                await foreach (var message in consumer.Handle.FetchAsync(fetch, NatsContext.Raw, token).ConfigureAwait(false))
                {
                    got++;
                    await AcceptAsync(consumer, message).ConfigureAwait(false);
                }

                failures = 0;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                failures++;
                var delay = TimeSpan.FromMilliseconds(Math.Min(2000, 100 * failures));
                NatsLog.ReadFailed(_context.Logger, ex, consumer.Name, Group, delay.TotalMilliseconds);
                try
                {
                    await Task.Delay(delay, _context.Time, token).ConfigureAwait(false);
                    await CheckConsumerAsync(consumer, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                catch (Exception)
                {
                    // Still unreachable: the next round tries again (and logs).
                }
            }
            finally
            {
                if (taken > got)
                    _slots.Release(taken - got);
            }
        }
    }

    /// <summary>
    /// One pulled message: skipped when another pattern of the group owns it, dead-lettered when it was not published
    /// through Busbar or is past its maximum deliveries, else handed out. It holds one slot, given back when it ends here
    /// or when its delivery is settled.
    /// </summary>
    private async Task AcceptAsync(ConsumerRef consumer, INatsJSMsg<ReadOnlyMemory<byte>> message)
    {
        var metadata = message.Metadata;
        var count = (int)Math.Min(int.MaxValue, metadata?.NumDelivered ?? 1);
        var sequence = metadata?.Sequence.Stream ?? 0;
        var name = NatsSubjects.Name(_context.Options.SubjectPrefix, message.Subject) ?? message.Subject;
        _context.Metrics.Delivered.Add(1);
        if (count > 1)
            _context.Metrics.Redelivered.Add(1);

        if (!Owns(consumer, name))
        {
            try
            {
                await message.AckAsync(cancellationToken: _stop.Token).ConfigureAwait(false);
                _context.Metrics.Skipped.Add(1);
            }
            finally
            {
                _slots.Release();
            }

            return;
        }

        var delivery = new NatsDelivery(this, consumer, message, name, sequence, count);
        if (message.Headers is null || !message.Headers.TryGetValue("Nats-Msg-Id", out var id) || id.Count == 0 || string.IsNullOrEmpty(id[0]))
        {
            await DeadLetterOrGiveBackAsync(delivery, "MissingHeader: the message has no Nats-Msg-Id header (not published through Busbar), so it cannot be deduplicated").ConfigureAwait(false);
            return;
        }

        if (count > _context.Options.MaxDeliveries)
        {
            // Its lease expired on the last allowed delivery (the consumer crashed or hung): no handler sees it again.
            var last = new NatsDelivery(this, consumer, message, name, sequence, _context.Options.MaxDeliveries);
            await DeadLetterOrGiveBackAsync(last, $"MaxDeliveries: delivered {_context.Options.MaxDeliveries} times, the maximum (the lease of the last delivery expired)").ConfigureAwait(false);
            return;
        }

        Interlocked.Increment(ref _handedOut);
        _deliveries.Writer.TryWrite(delivery);
    }

    private bool Owns(ConsumerRef consumer, string name)
    {
        if (consumer.PatternIndex is not { } own)
            return true;
        for (var i = 0; i < own; i++)
        {
            if (_patterns[i].Matches(name))
                return false;
        }

        return true;
    }

    /// <summary>Reads each consumer's state for the gauges; a consumer gone from the server is created again, with an alarm.</summary>
    private async Task StatusLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            long pending = 0, redelivered = 0;
            foreach (var consumer in _consumers)
            {
                try
                {
                    await CheckConsumerAsync(consumer, token).ConfigureAwait(false);
                    var info = consumer.Handle.Info;
                    pending += (long)info.NumPending;
                    redelivered += info.NumRedelivered;
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    NatsLog.StatusFailed(_context.Logger, ex, consumer.Name);
                }
            }

            Pending = pending;
            Redelivered = redelivered;
            try
            {
                await Task.Delay(_context.Options.StatusInterval, _context.Time, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task CheckConsumerAsync(ConsumerRef consumer, CancellationToken token)
    {
        try
        {
            await consumer.Handle.RefreshAsync(token).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            consumer.Handle = await _context.Topology.EnsureConsumerAsync(consumer.Config, token).ConfigureAwait(false);
            _context.ConsumerRecreated(consumer.Name, Group);
        }
    }

    /// <summary>One of the group's durable consumers: its configuration, the pattern it owns on the 2.9 layout, and its handle.</summary>
    internal sealed class ConsumerRef(ConsumerConfig config, int? patternIndex, INatsJSConsumer handle)
    {
        public ConsumerConfig Config { get; } = config;

        public string Name => Config.Name!;

        public int? PatternIndex { get; } = patternIndex;

        public INatsJSConsumer Handle { get; set; } = handle;
    }
}
