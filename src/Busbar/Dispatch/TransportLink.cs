using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Reflection;
using System.Threading.Channels;
using Busbar.Diagnostics;
using Busbar.Routing;
using Busbar.Transport;
using Microsoft.Extensions.Logging;

namespace Busbar.Dispatch;

/// <summary>
/// A bus's link to its transport: the connection, which events travel, the publish window, and the consumer that keeps the
/// group's transport subscriptions in step with the bus's subscriptions and feeds their deliveries to the
/// <see cref="TransportSource"/>.
/// </summary>
/// <remarks>
/// <para>Subscriptions only widen: a subscription added after start whose events the group does not receive yet gets a
/// new transport subscription for the missing names and patterns; removing one never narrows them, and a delivery no
/// handler wants any more is acknowledged (its route is empty, so it completes at once).</para>
/// <para>Publishing: an event that took a place in the window is queued for the sender, which takes what is waiting (at
/// most <see cref="MaxBatch"/> events, in the order they were queued) and hands it to the transport as one
/// <see cref="IEventTransport.PublishAsync"/> batch. At most <see cref="MaxBatchesInFlight"/> batches are on their way at
/// once; events queued while they are go together in the next. Batches are started in queue order and a transport sends
/// the messages of calls in call order, so one publisher's events keep their order. Each event's handle completes when its
/// own batch was answered, with the broker's exception when it was refused.</para>
/// <para>Stop: <see cref="BeginStop"/> ends intake (the read loops end; deliveries the transport handed out and the bus
/// did not read stay leased and come again to another consumer), then waits for the running deliveries and the publishes
/// on their way (a publish that reaches <see cref="TrySend"/> once that wait began is refused, never sent after it); <see cref="DisposeAsync"/> closes the transport subscriptions, and the transport when the bus owns it.</para>
/// </remarks>
internal sealed class TransportLink : IAsyncDisposable
{
    /// <summary>The most events one transport <see cref="IEventTransport.PublishAsync"/> call carries.</summary>
    internal const int MaxBatch = 256;

    /// <summary>The most batches on their way to the broker at once.</summary>
    internal const int MaxBatchesInFlight = 4;

    private static readonly TimeSpan s_resubscribeDelay = TimeSpan.FromSeconds(1);

    private readonly TransportSetup _setup;
    private readonly EnvelopeCodec _codec;
    private readonly FrozenDictionary<string, Type> _types;
    private readonly ConcurrentDictionary<string, bool> _remote = new(StringComparer.Ordinal);
    private readonly Router _router;
    private readonly TransportSource _source;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _bus;
    private readonly int _maxInFlight;
    private readonly SemaphoreSlim _window;
    private readonly BusyCounter _sending = new();
    private readonly Action<EventContext, Exception?, TimeSpan> _published;
    private readonly Queue<EventContext> _outgoing = new();
    private readonly Queue<TransportMessage> _outgoingMessages = new();
    private bool _senderRunning;
    private int _batchesInFlight;
    private readonly CancellationTokenSource _intake = new();
    private readonly Channel<bool> _changed = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly List<ITransportSubscription> _subscriptions = [];
    private readonly HashSet<string> _subscribed = new(StringComparer.Ordinal);
    private readonly Task<IEventTransport> _connect;
    private Task _consumer = Task.CompletedTask;
    private long _reconciledVersion = -1;
    private TaskCompletionSource _reconciled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    public TransportLink(TransportSetup setup, EventBusOptions busOptions, string bus, Router router, TransportSource source, EnvelopeCodec codec, TimeProvider time, ILoggerFactory? loggerFactory, ILogger logger, Action<EventContext, Exception?, TimeSpan> published)
    {
        _published = published;
        _setup = setup;
        _codec = codec;
        _types = setup.Events.Snapshot().ToFrozenDictionary(static p => p.Key, static p => p.Value.Type, StringComparer.Ordinal);
        _router = router;
        _source = source;
        _time = time;
        _logger = logger;
        _bus = bus;
        _maxInFlight = busOptions.MaxConcurrentEvents;
        _window = new SemaphoreSlim(busOptions.Capacity, busOptions.Capacity);
        Group = setup.Options.Group ?? DefaultGroup(busOptions.Name);
        var arguments = new TransportConnectArguments(busOptions, time, loggerFactory);
        using (ExecutionContext.SuppressFlow())
            _connect = Task.Run(() => ConnectAsync(arguments));
    }

    /// <summary>The group the bus consumes in.</summary>
    public string Group { get; }

    /// <summary>The transport once connected (tests, health).</summary>
    public Task<IEventTransport> Transport => _connect;

    /// <summary>The names and patterns the group's transport subscriptions cover.</summary>
    public IReadOnlyCollection<string> SubscribedPatterns
    {
        get
        {
            lock (_subscribed)
                return [.. _subscribed];
        }
    }

    /// <summary>The default group: the bus name, else the entry assembly's name, else "busbar"; characters a group may not hold become '-'.</summary>
    internal static string DefaultGroup(string? busName)
    {
        var name = busName ?? Assembly.GetEntryAssembly()?.GetName().Name ?? "busbar";
        var chars = name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (!EventNaming.IsNameChar(chars[i]) && chars[i] != '.')
                chars[i] = '-';
        }

        var group = new string(chars);
        return group.Length is > 0 and <= 128 ? group : "busbar";
    }

    /// <summary>Starts the consumer: it subscribes once connected, and again whenever <see cref="SubscriptionsChanged"/> says so.</summary>
    public void Start()
    {
        using (ExecutionContext.SuppressFlow())
            _consumer = Task.Run(ConsumeAsync);
    }

    /// <summary>Whether an event of this name goes to the broker: it is not kept local.</summary>
    public bool IsRemote(string name)
    {
        if (_setup.LocalEvents.Count == 0)
            return true;
        if (_remote.TryGetValue(name, out var remote))
            return remote;
        remote = true;
        foreach (var pattern in _setup.LocalEvents)
        {
            if (pattern.Matches(name))
            {
                remote = false;
                break;
            }
        }

        _remote.TryAdd(name, remote);
        return remote;
    }

    /// <summary>Encodes a published event with its ids, trace context and headers.</summary>
    /// <exception cref="ArgumentException">The event's type is not registered under its name (the message says to register it or keep it local).</exception>
    public TransportMessage Encode(EventContext context)
    {
        if (!_types.TryGetValue(context.Name, out var type) || type != context.Payload.GetType())
            throw new ArgumentException($"Event '{context.Name}' ({context.Payload.GetType().FullName}) is not registered in the bus's EventTypeRegistry, so it cannot go to the transport: register it (EventTypeRegistry.Add), or keep it in the process with EventBusBuilder.KeepLocal.", "event");
        string? traceParent = null;
        string? traceState = null;
        IReadOnlyDictionary<string, string> headers = EventEnvelope.EmptyHeaders;
        if (context.Headers.Count > 0)
        {
            var rest = new Dictionary<string, string>(context.Headers.Count, StringComparer.Ordinal);
            foreach (var (key, value) in context.Headers)
            {
                if (key == BusTracing.TraceParentHeader)
                    traceParent = value;
                else if (key == BusTracing.TraceStateHeader)
                    traceState = value;
                else
                    rest[key] = value;
            }

            if (rest.Count > 0)
                headers = rest;
        }

        var envelope = new EventEnvelope
        {
            EventId = context.EventId,
            Name = context.Name,
            CreatedAt = context.CreatedAt,
            CorrelationId = context.CorrelationId,
            CausationId = context.CausationId,
            TraceParent = traceParent,
            TraceState = traceState,
            Priority = context.Priority,
            OrderingKey = context.OrderingKey,
            Deadline = context.Deadline,
            Headers = headers,
        };
        return _codec.Encode(envelope, context.Payload);
    }

    /// <summary>Takes a place in the publish window if one is free.</summary>
    public bool TryEnterWindow() => _window.Wait(0);

    /// <summary>Waits for a place in the publish window.</summary>
    /// <exception cref="BusStoppedException">The bus began to stop meanwhile.</exception>
    public async ValueTask EnterWindowAsync(CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _intake.Token);
        try
        {
            await _window.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BusStoppedException($"Bus '{_bus}' is stopped and accepts no more events.");
        }
    }

    /// <summary>
    /// Sends an event that holds a place in the window: it joins the sender's queue, and the sender starts here when it is
    /// not running and a batch may start. The place is given back, and the constructor's <c>published</c> callback called
    /// (with the broker's exception or null, and how long the batch took), once the broker answered the batch that carried it.
    /// </summary>
    /// <returns>
    /// False when the stop already waits for the publishes on their way (a publish that passed the bus's stop check just
    /// before the stop began): the event is not sent, its place is given back, and the caller refuses it. Otherwise the stop
    /// waits for this event's answer, so nothing is sent after <see cref="BeginStop"/>'s task completed.
    /// </returns>
    public bool TrySend(EventContext context, TransportMessage message)
    {
        if (!_sending.TryEnter())
        {
            _window.Release();
            return false;
        }

        lock (_outgoing)
        {
            _outgoing.Enqueue(context);
            _outgoingMessages.Enqueue(message);
            if (_senderRunning || _batchesInFlight >= MaxBatchesInFlight)
                return true;
            _senderRunning = true;
        }

        _ = SendLoopAsync();
        return true;
    }

    /// <summary>
    /// Starts batches of what is queued, in queue order, while fewer than <see cref="MaxBatchesInFlight"/> are on their way;
    /// a batch that ends starts the sender again when events wait. Never throws.
    /// </summary>
    private async Task SendLoopAsync()
    {
        IEventTransport? transport = null;
        Exception? connectError = null;
        try
        {
            transport = await _connect.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            connectError = ex;
        }

        while (true)
        {
            EventContext[] contexts;
            TransportMessage[] messages;
            lock (_outgoing)
            {
                var count = Math.Min(_outgoing.Count, MaxBatch);
                if (count == 0 || _batchesInFlight >= MaxBatchesInFlight)
                {
                    _senderRunning = false;
                    return;
                }

                _batchesInFlight++;
                contexts = new EventContext[count];
                messages = new TransportMessage[count];
                for (var i = 0; i < count; i++)
                {
                    contexts[i] = _outgoing.Dequeue();
                    messages[i] = _outgoingMessages.Dequeue();
                }
            }

            // The call sends synchronously up to its first wait (transports send the messages of calls in call order),
            // so the next batch starts behind this one.
            _ = PublishBatchAsync(transport, connectError, contexts, messages);
        }
    }

    /// <summary>Publishes one batch and ends each of its events with the answer; then lets the sender start another. Never throws.</summary>
    private async Task PublishBatchAsync(IEventTransport? transport, Exception? connectError, EventContext[] contexts, TransportMessage[] messages)
    {
        var error = connectError;
        var started = _time.GetTimestamp();
        if (transport is not null)
        {
            try
            {
                await transport.PublishAsync(messages).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                error = ex;
            }
        }

        var elapsed = _time.GetElapsedTime(started);
        _window.Release(contexts.Length);
        foreach (var context in contexts)
        {
            try
            {
                _published(context, error, elapsed);
            }
            catch (Exception ex)
            {
                // Ending a publish only records and logs; a fault there must not strand the events behind it.
                TransportLogMessages.PublishFailed(_logger, ex, context.Name, context.EventId);
            }
            finally
            {
                _sending.Leave();
            }
        }

        bool restart;
        lock (_outgoing)
        {
            _batchesInFlight--;
            restart = !_senderRunning && _outgoing.Count > 0;
            if (restart)
                _senderRunning = true;
        }

        if (restart)
            _ = SendLoopAsync();
    }

    /// <summary>A subscription was added: the consumer checks whether the group's transport subscriptions cover it.</summary>
    public void SubscriptionsChanged() => _changed.Writer.TryWrite(true);

    /// <summary>Completes once the transport subscriptions cover every subscription the bus had when it was called (tests, hosting).</summary>
    public async Task WaitUntilSubscribedAsync(CancellationToken cancellationToken)
    {
        var target = _router.Version;

        // A connect that failed throws here, with its own exception.
        await _connect.WaitAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            var signal = Volatile.Read(ref _reconciled);
            if (Interlocked.Read(ref _reconciledVersion) >= target)
                return;
            if (_intake.IsCancellationRequested)
                throw new BusStoppedException($"Bus '{_bus}' is stopped and no longer consumes from its transport.");
            await signal.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Ends intake: the read loops end and the transport subscriptions close, so the broker hands this bus nothing more (a
    /// delivery given back by a cancelled handler goes to another consumer of the group). Completes when the running
    /// deliveries are settled (settling needs the transport, not the subscription) and the publishes on their way answered.
    /// </summary>
    public Task BeginStop()
    {
        _intake.Cancel();
        return StopAndWaitIdleAsync();
    }

    private async Task StopAndWaitIdleAsync()
    {
        // The read loops end first: a read answered as intake ended still hands its deliveries to the source, and one
        // handed over after the source was found idle would run unseen by the stop, after it returned.
        await _consumer.ConfigureAwait(false);
        await Task.WhenAll(CloseSubscriptionsAsync(), _source.StopAndWaitIdleAsync(), _sending.StopAndWaitIdleAsync()).ConfigureAwait(false);
    }

    private async Task CloseSubscriptionsAsync()
    {
        await _consumer.ConfigureAwait(false);
        ITransportSubscription[] subscriptions;
        lock (_subscriptions)
        {
            subscriptions = [.. _subscriptions];
            _subscriptions.Clear();
        }

        foreach (var subscription in subscriptions)
        {
            try
            {
                await subscription.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                TransportLogMessages.ReadFailed(_logger, ex, _bus, Group);
            }
        }
    }

    /// <summary>Deliveries still running when the stop gave up on them: unsettled, they come again after their lease.</summary>
    public long Running => _source.Running;

    /// <summary>Deliveries read and not yet settling, whose leases the bus keeps.</summary>
    internal int Held => _source.Held;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (!_intake.IsCancellationRequested)
            _intake.Cancel();
        await CloseSubscriptionsAsync().ConfigureAwait(false);
        // Deliveries a stop gave up on are no longer extended: they come again after their lease.
        _source.Dispose();
        if (_setup.OwnsTransport)
        {
            // Cancelling intake cancelled a connect still under way; a transport it made anyway is closed here.
            try
            {
                await (await _connect.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (_connect.IsFaulted || _connect.IsCanceled)
            {
                _ = ex;
            }
        }

        _intake.Dispose();
    }

    private async Task<IEventTransport> ConnectAsync(TransportConnectArguments arguments)
    {
        try
        {
            return await _setup.Connect(arguments, _intake.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            TransportLogMessages.ConnectFailed(_logger, ex, _bus);
            throw;
        }
    }

    private async Task ConsumeAsync()
    {
        IEventTransport transport;
        try
        {
            transport = await _connect.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Logged by ConnectAsync; publishes see the exception.
            return;
        }

        var token = _intake.Token;
        var readers = new List<Task>();
        try
        {
            while (!token.IsCancellationRequested)
            {
                var version = _router.Version;
                var missing = MissingPatterns();
                if (missing.Count > 0)
                {
                    var patterns = string.Join(", ", missing);
                    try
                    {
                        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = Group, Patterns = missing, MaxInFlight = _maxInFlight }, token).ConfigureAwait(false);
                        lock (_subscriptions)
                            _subscriptions.Add(subscription);
                        lock (_subscribed)
                            _subscribed.UnionWith(missing);
                        readers.Add(TransportReader.Start(subscription, _source, token, _logger, _bus, Group));
                        TransportLogMessages.Subscribed(_logger, _bus, patterns, Group);
                    }
                    catch (OperationCanceledException) when (token.IsCancellationRequested)
                    {
                        break;
                    }
                    catch (Exception ex)
                    {
                        TransportLogMessages.SubscribeFailed(_logger, ex, _bus, Group, patterns);
                        await Task.Delay(s_resubscribeDelay, _time, token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                        continue;
                    }
                }

                Interlocked.Exchange(ref _reconciledVersion, version);
                Interlocked.Exchange(ref _reconciled, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                try
                {
                    if (!await _changed.Reader.WaitToReadAsync(token).ConfigureAwait(false))
                        break;
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                _changed.Reader.TryRead(out _);
            }
        }
        finally
        {
            await Task.WhenAll(readers).ConfigureAwait(false);
            _reconciled.TrySetResult();
        }
    }

    /// <summary>The names (typed subscriptions, through the registry) and patterns no transport subscription covers yet.</summary>
    private List<string> MissingPatterns()
    {
        var wanted = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var entry in _router.Subscriptions)
        {
            if (!entry.IsActive)
                continue;
            if (entry.TopicPattern is { } pattern)
            {
                wanted.Add(pattern.Text);
                continue;
            }

            foreach (var (name, type) in _types)
            {
                if (entry.EventType!.IsAssignableFrom(type) && IsRemote(name))
                    wanted.Add(name);
            }
        }

        var missing = new List<string>();
        lock (_subscribed)
        {
            foreach (var name in wanted)
            {
                if (!_subscribed.Contains(name) && !CoveredByPattern(name))
                    missing.Add(name);
            }
        }

        return missing;
    }

    private bool CoveredByPattern(string name)
    {
        foreach (var subscribed in _subscribed)
        {
            if (subscribed.Contains('*', StringComparison.Ordinal) && EventNaming.Validate(name) is null && TopicPattern.Parse(subscribed).Matches(name))
                return true;
        }

        return false;
    }
}
