using System.Collections.Concurrent;
using Busbar.Diagnostics;
using Busbar.Engine;
using Busbar.Routing;
using Busbar.Transport;
using Microsoft.Extensions.Logging;

namespace Busbar.Dispatch;

/// <summary>
/// Broker deliveries as a source of the engine: each is decoded through the codec (the registry's allow-list), becomes an
/// <see cref="EventContext"/> with the envelope's ids, trace context and headers and <see cref="EventContext.Attempt"/> =
/// the delivery count, runs on the same <see cref="EventDispatcher"/> as the local queue, and ends with the
/// <see cref="TransportSettler"/>. A delivery that cannot be decoded is terminated with the codec's reason; it never
/// reaches a handler and never stops the deliveries behind it.
/// </summary>
/// <remarks>
/// Deliveries run without an execution context of the caller's: the reader queues the deliveries of a burst and, when
/// the burst ends, becomes a pump on its own thread; helpers join from the thread pool while more waits (as many pumps as
/// the machine has cores, at least two). A pump starts the queued deliveries one after the other, each running until its
/// first wait and going on from there by itself, so a lone delivery costs no thread-pool item and a burst a few. The
/// transport's in-flight bound (<see cref="EventBusOptions.MaxConcurrentEvents"/> per subscription) limits how many run at
/// once, as the worker count does for the local queue; a handler that blocks its thread synchronously holds a pump, so
/// handlers that wait should be asynchronous.
/// <para>
/// Leases: from the moment the bus reads a delivery until its settlement begins — waiting for a pump, for earlier
/// deliveries' decoding or behind its ordering key, running synchronously or not — its lease is extended at most
/// <see cref="TransportBusOptions.LeaseExtensionInterval"/> after it was read or last extended. One sweep per source does it
/// (see <see cref="Sweep"/>); a delivery costs an entry in <see cref="_held"/>, no timer of its own.
/// </para>
/// <para>
/// Deliveries whose events share an <see cref="EventContext.OrderingKey"/> run one at a time, in the order this bus received
/// them, as the local queue runs a key's events: one that arrives while an event of its key runs is parked and starts when
/// that one's handlers ended, before its settlement.
/// </para>
/// </remarks>
internal sealed class TransportSource : IDisposable
{
    private readonly EventDispatcher _dispatcher;
    private readonly Router _router;
    private readonly EnvelopeCodec _codec;
    private readonly TransportSettler _settler;
    private readonly ILogger _logger;
    private readonly InProcessEventBus _receiver;
    private readonly CancellationToken _stopToken;
    private readonly BusyCounter _running = new();
    private readonly ConcurrentQueue<(ITransportDelivery Delivery, long Sequence)> _ready = new();
    private readonly int _maxPumps = MaxPumps;
    private readonly object _batchLock = new();

    /// <summary>
    /// The deliveries read and not yet settling, each with the sweep it was read or last extended in; guarded by itself. An
    /// entry is added as the delivery is read and removed as its settlement begins (or a fault leaves it to its lease).
    /// </summary>
    private readonly Dictionary<ITransportDelivery, long> _held = new(ReferenceEqualityComparer.Instance);

    /// <summary>Runs <see cref="Sweep"/> every half <see cref="TransportBusOptions.LeaseExtensionInterval"/>.</summary>
    private readonly ITimer _sweeper;

    /// <summary>How many sweeps ran; guarded by <see cref="_held"/>.</summary>
    private long _sweeps;

    /// <summary>Set by <see cref="Dispose"/>: a sweep already under way extends nothing more, and a failure then is not logged.</summary>
    private volatile bool _disposed;

    /// <summary>The ordering keys whose events run: each with the deliveries parked behind it (null: none); guarded by itself.</summary>
    private readonly Dictionary<string, Queue<Parked>?> _keys = new(StringComparer.Ordinal);

    /// <summary>
    /// Deliveries decoded before one received earlier (pumps decode side by side): by sequence, the keyed ones with their
    /// context, to take or queue for their key once every earlier delivery has been decoded; guarded by <see cref="_keys"/>.
    /// </summary>
    private readonly SortedDictionary<long, Parked?> _early = [];

    /// <summary>Sequence numbers in the order deliveries were received (<see cref="Enqueue"/>).</summary>
    private long _received;

    /// <summary>The next sequence number to be decoded: every delivery before it has been; guarded by <see cref="_keys"/>.</summary>
    private long _nextDecoded = 1;

    /// <summary>The deliveries that last joined a settlement still on its way (see <see cref="AwaitSettled"/>); guarded by <see cref="_batchLock"/>.</summary>
    private SettleBatch? _batch;
    private int _pumps;

    /// <summary>Creates the source of one bus; its lease sweep starts now.</summary>
    /// <param name="dispatcher">The engine.</param>
    /// <param name="router">Resolves the route by the decoded type and name.</param>
    /// <param name="codec">Decodes envelopes.</param>
    /// <param name="settler">Acks, retries later or terminates.</param>
    /// <param name="time">The bus's clock, for the lease sweep.</param>
    /// <param name="leaseExtension">The longest a held delivery goes without its lease extended.</param>
    /// <param name="logger">Logs faults.</param>
    /// <param name="receiver">
    /// The bus that consumes the deliveries: each context is created as its own (<see cref="EventContext.Bus"/>, so a handler
    /// can publish follow-ups on it; its name starts <see cref="EventContext.Path"/>; its clock); the source calls nothing on it.
    /// </param>
    /// <param name="stopToken">Cancelled when the bus's stop gives up draining: a delivery that has not started by then never does.</param>
    public TransportSource(EventDispatcher dispatcher, Router router, EnvelopeCodec codec, TransportSettler settler, TimeProvider time, TimeSpan leaseExtension, ILogger logger, InProcessEventBus receiver, CancellationToken stopToken)
    {
        _dispatcher = dispatcher;
        _router = router;
        _codec = codec;
        _settler = settler;
        _logger = logger;
        _receiver = receiver;
        _stopToken = stopToken;
        // The timer must not carry the building caller's execution context (its async-locals, its activity) into every sweep.
        var half = leaseExtension / 2;
        using (ExecutionContext.SuppressFlow())
            _sweeper = time.CreateTimer(static s => ((TransportSource)s!).Sweep(), this, half, half);
    }

    /// <summary>How many pumps run deliveries at most: the reader's own thread included, as many as the machine has cores, at least two.</summary>
    internal static int MaxPumps => Math.Max(2, Environment.ProcessorCount);

    /// <summary>Deliveries received and not yet settled.</summary>
    public long Running => _running.Count;

    /// <summary>Deliveries whose leases the sweep keeps (read, not yet settling).</summary>
    internal int Held
    {
        get
        {
            lock (_held)
                return _held.Count;
        }
    }

    /// <summary>Queues a delivery; the reader runs the queue itself (<see cref="RunQueued"/>) when its burst ends.</summary>
    public void Enqueue(ITransportDelivery delivery)
    {
        _running.Enter();
        lock (_held)
            _held[delivery] = _sweeps;
        _ready.Enqueue((delivery, Interlocked.Increment(ref _received)));
    }

    /// <summary>Stops the lease sweep (the bus is disposed): deliveries still held come again after their lease.</summary>
    public void Dispose()
    {
        _disposed = true;
        _sweeper.Dispose();
    }

    /// <summary>
    /// Extends the lease of every held delivery that was read or last extended before the previous sweep. Sweeps run every half
    /// interval, so a delivery goes at most one interval without an extension: from its read to its first, and between two.
    /// </summary>
    private void Sweep()
    {
        if (_disposed)
            return;
        List<ITransportDelivery>? due = null;
        lock (_held)
        {
            var previous = _sweeps++;
            foreach (var (delivery, since) in _held)
            {
                if (since < previous)
                    (due ??= []).Add(delivery);
            }

            if (due is null)
                return;
            foreach (var delivery in due)
                _held[delivery] = _sweeps;
        }

        foreach (var delivery in due)
            _ = ExtendAsync(delivery);
    }

    /// <summary>Never throws: a failed extension is logged (the delivery may come again to another consumer), unless its settlement began meanwhile.</summary>
    private async Task ExtendAsync(ITransportDelivery delivery)
    {
        try
        {
            await delivery.ExtendLeaseAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Settling meanwhile, or the bus disposed with the transport: nothing is left to keep.
            if (!_disposed && IsHeld(delivery))
                TransportLogMessages.ExtendFailed(_logger, ex, delivery.Name, delivery.DeliveryId);
        }
    }

    private bool IsHeld(ITransportDelivery delivery)
    {
        lock (_held)
            return _held.ContainsKey(delivery);
    }

    /// <summary>The delivery's settlement begins, or a fault leaves it to its lease: the sweep no longer extends it.</summary>
    private void Release(ITransportDelivery delivery)
    {
        lock (_held)
            _held.Remove(delivery);
    }

    /// <summary>
    /// An internal fault: the delivery is logged and left unsettled, its key (if it held one) and its lease let go, so it comes
    /// again after its lease. Never throws.
    /// </summary>
    private void Abandon(Exception ex, ITransportDelivery delivery, EventContext? context)
    {
        TransportLogMessages.DeliveryFault(_logger, ex, delivery.Name, delivery.DeliveryId);
        if (context is not null)
            ReleaseKey(context);
        Release(delivery);
        _running.Leave();
    }

    /// <summary>
    /// The reader's burst ended: its own thread becomes a pump and runs what is queued (so a lone delivery costs no
    /// thread-pool hop at all), with helpers joining from the thread pool while more waits, up to the pump limit.
    /// </summary>
    public void RunQueued()
    {
        if (!_ready.IsEmpty && TryAddPump())
            Pump();
    }

    private bool TryAddPump()
    {
        while (true)
        {
            var pumps = Volatile.Read(ref _pumps);
            if (pumps >= _maxPumps)
                return false;
            if (Interlocked.CompareExchange(ref _pumps, pumps + 1, pumps) == pumps)
                return true;
        }
    }

    /// <summary>
    /// Starts the queued deliveries one after the other: each runs here until its first wait (an asynchronous handler, the
    /// broker's answer to its settlement) and goes on from there by itself. A pump ends when the queue is empty.
    /// </summary>
    private void Pump()
    {
        while (true)
        {
            while (_ready.TryDequeue(out var next))
            {
                if (!_ready.IsEmpty && TryAddPump())
                    ThreadPool.UnsafeQueueUserWorkItem(static source => source.Pump(), this, preferLocal: false);
                Run(next.Delivery, next.Sequence);
            }

            Interlocked.Decrement(ref _pumps);

            // A delivery queued while every pump was running relies on one of them to take it: look once more.
            if (_ready.IsEmpty || !TryAddPump())
                return;
        }
    }

    /// <summary>Completes when no delivery is running any more (call after intake stopped).</summary>
    public Task StopAndWaitIdleAsync() => _running.StopAndWaitIdleAsync();

    /// <summary>
    /// Decodes, dispatches and settles one delivery without a state machine of its own while everything completes
    /// synchronously (the usual case: a synchronous handler, then an ack whose broker answer is awaited by
    /// <see cref="AwaitSettled"/> alone). Never throws: a fault is logged and the delivery, left unsettled, comes again
    /// after its lease.
    /// </summary>
    private void Run(ITransportDelivery delivery, long sequence)
    {
        EventContext context;
        try
        {
            if (!_codec.TryDecode(delivery.Name, delivery.Envelope.Span, out var decoded, out var failure))
            {
                Decoded(sequence, null);
                Release(delivery);
                Settled(_settler.TerminateUndecodableAsync(delivery, failure.Reason!), delivery);
                return;
            }

            context = CreateContext(delivery, in decoded);
            var route = _router.Resolve(decoded.PayloadType, context.Name);
            context.Route = route;
        }
        catch (Exception ex)
        {
            Decoded(sequence, null);
            Abandon(ex, delivery, null);
            return;
        }

        if (context.OrderingKey is null)
        {
            Decoded(sequence, null);
            Start(delivery, context);
        }
        else if (Decoded(sequence, new Parked(this, delivery, context)))
        {
            Start(delivery, context);
        }
    }

    /// <summary>
    /// Dispatches a decoded delivery (its key, if any, held) and settles it; once the stop has given up draining (a delivery
    /// that waited behind its key, or was read as intake ended), it is given back unstarted, as the local queue's unstarted
    /// events are cancelled then. Never throws.
    /// </summary>
    private void Start(ITransportDelivery delivery, EventContext context)
    {
        if (_stopToken.IsCancellationRequested)
        {
            Settle(context, EventStatus.Cancelled, delivery);
            return;
        }

        ValueTask<EventStatus> pending;
        try
        {
            context.MarkRunning();
            pending = _dispatcher.DispatchAsync(context, context.Route!, default, null, recordResults: true);
        }
        catch (Exception ex)
        {
            Abandon(ex, delivery, context);
            return;
        }

        if (pending.IsCompletedSuccessfully)
            Settle(context, pending.Result, delivery);
        else
            _ = RunOnAsync(delivery, context, pending);
    }

    /// <summary>
    /// Delivery <paramref name="sequence"/> is decoded (<paramref name="keyed"/>: with its ordering key, else null). A keyed
    /// one takes its key, or queues behind it, in the order the deliveries were received: once every earlier delivery has
    /// been decoded too. True when <paramref name="keyed"/> took its key and the caller starts it; keyed deliveries whose
    /// turn came through this one's start on the thread pool.
    /// </summary>
    private bool Decoded(long sequence, Parked? keyed)
    {
        bool self;
        List<Parked>? others = null;
        lock (_keys)
        {
            if (sequence != _nextDecoded)
            {
                _early.Add(sequence, keyed);
                return false;
            }

            self = keyed is not null && TryHoldLocked(keyed);
            while (_early.Remove(++_nextDecoded, out var next))
            {
                if (next is not null && TryHoldLocked(next))
                    (others ??= []).Add(next);
            }
        }

        if (others is not null)
        {
            foreach (var other in others)
                ThreadPool.UnsafeQueueUserWorkItem(static p => p.Resume(), other, preferLocal: false);
        }

        return self;
    }

    /// <summary>Holds the delivery's key for it (true), or queues it behind the key's running event. Under <see cref="_keys"/>.</summary>
    private bool TryHoldLocked(Parked keyed)
    {
        var key = keyed.Key;
        if (!_keys.TryGetValue(key, out var parked))
        {
            _keys.Add(key, null);
            return true;
        }

        if (parked is null)
            _keys[key] = parked = new Queue<Parked>();
        parked.Enqueue(keyed);
        return false;
    }

    /// <summary>An event's handlers ended: the next delivery parked behind its key starts (on the thread pool), else the key is free.</summary>
    private void ReleaseKey(EventContext context)
    {
        if (context.OrderingKey is not { } key)
            return;
        Parked? next = null;
        lock (_keys)
        {
            if (_keys.TryGetValue(key, out var parked) && parked is not null && parked.TryDequeue(out next))
            {
                if (parked.Count == 0)
                    _keys[key] = null;
            }
            else
            {
                _keys.Remove(key);
            }
        }

        if (next is not null)
            ThreadPool.UnsafeQueueUserWorkItem(static p => p.Resume(), next, preferLocal: false);
    }

    /// <summary>The rest of <see cref="Run"/> for handlers still running (the sweep keeps their lease). Never throws.</summary>
    private async Task RunOnAsync(ITransportDelivery delivery, EventContext context, ValueTask<EventStatus> pending)
    {
        EventStatus status;
        try
        {
            status = await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Abandon(ex, delivery, context);
            return;
        }

        Settle(context, status, delivery);
    }

    /// <summary>Settles a dispatched delivery; it stops running once the broker answered. Never throws.</summary>
    private void Settle(EventContext context, EventStatus status, ITransportDelivery delivery)
    {
        ReleaseKey(context);
        Release(delivery);
        ValueTask settle;
        try
        {
            settle = _settler.SettleDirect(context, status);
        }
        catch (Exception ex)
        {
            TransportSettler.SettleFailed(_logger, ex, delivery);
            _running.Leave();
            return;
        }

        Settled(settle, delivery);
    }

    /// <summary>Leaves the running count once <paramref name="settle"/> completed, logging its fault. Never throws.</summary>
    private void Settled(ValueTask settle, ITransportDelivery delivery)
    {
        if (!settle.IsCompleted)
        {
            AwaitSettled(settle, delivery);
            return;
        }

        try
        {
            settle.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            TransportSettler.SettleFailed(_logger, ex, delivery);
        }

        _running.Leave();
    }

    /// <summary>
    /// Leaves the running count once a settlement still on its way completed. Deliveries whose settlements share one task
    /// (a transport that answers a batch of acks at once, as Redis's one <c>XACK</c> for many entries) join one
    /// <see cref="SettleBatch"/> with one callback on that task, rather than a state machine each; a transport whose every
    /// settlement is a task of its own gets a batch of one. Never throws.
    /// </summary>
    private void AwaitSettled(ValueTask settle, ITransportDelivery delivery)
    {
        // A ValueTask backed by a task hands that task back without allocating.
        var task = settle.AsTask();
        SettleBatch batch;
        lock (_batchLock)
        {
            if (_batch is { } current && ReferenceEquals(current.Task, task) && current.TryAdd(delivery))
                return;
            batch = new SettleBatch(this, task, delivery);
            _batch = batch;
        }

        task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(batch.Complete);
    }

    /// <summary>The deliveries waiting for one settlement task; closed once it completed, so later ones start a new batch.</summary>
    private sealed class SettleBatch(TransportSource source, Task task, ITransportDelivery first)
    {
        private List<ITransportDelivery>? _more;
        private bool _closed;

        public Task Task => task;

        /// <summary>Joins the batch; false once it completed. Called under the source's batch lock.</summary>
        public bool TryAdd(ITransportDelivery delivery)
        {
            if (_closed)
                return false;
            (_more ??= []).Add(delivery);
            return true;
        }

        /// <summary>The task completed: logs its fault once per delivery, then every delivery stops running.</summary>
        public void Complete()
        {
            List<ITransportDelivery>? more;
            lock (source._batchLock)
            {
                _closed = true;
                more = _more;
                if (ReferenceEquals(source._batch, this))
                    source._batch = null;
            }

            Exception? error = null;
            try
            {
                task.GetAwaiter().GetResult();
            }
            catch (Exception ex)
            {
                error = ex;
            }

            Leave(first, error);
            if (more is not null)
            {
                foreach (var delivery in more)
                    Leave(delivery, error);
            }
        }

        private void Leave(ITransportDelivery delivery, Exception? error)
        {
            if (error is not null)
            {
                try
                {
                    TransportSettler.SettleFailed(source._logger, error, delivery);
                }
                catch (Exception)
                {
                    // A logger that throws must not keep the deliveries behind this one running.
                }
            }

            source._running.Leave();
        }
    }

    private EventContext CreateContext(ITransportDelivery delivery, in EnvelopeCodec.DecodedFields decoded)
    {
        // Created as the receiving bus's own (its name starts the path, its clock is the context's), so the context
        // carries no origin or clock of its own.
        var context = new EventContext(_receiver, decoded.Payload, decoded.Name)
        {
            EventId = decoded.EventId,
            CreatedAt = decoded.CreatedAt,
            // Set before anything rare: with nothing else, the context holds the delivery in its side slot and reads
            // its attempt (the delivery count) from it, so a consumed event costs no extras object.
            Delivery = delivery,
        };
        if (decoded.CausationId is { } causation)
            context.CausationId = causation;
        if (decoded.CorrelationId is { } correlation)
            context.CorrelationId = correlation;
        if (decoded.Priority != 0 || decoded.OrderingKey is not null || decoded.Deadline is not null)
        {
            // Rare, and each creates the context's extras: the dispatcher enforces the deadline as for a local event.
            context.Priority = decoded.Priority;
            context.OrderingKey = decoded.OrderingKey;
            context.Deadline = decoded.Deadline;
        }

        if (decoded.TraceParent is not null || decoded.Headers is not null)
        {
            // The trace context goes back among the headers, where the process span reads its remote parent; the
            // decoded headers are this delivery's own dictionary, so it is completed in place.
            var headers = decoded.Headers ?? new Dictionary<string, string>(2, StringComparer.Ordinal);
            if (decoded.TraceParent is { } parent)
                headers[BusTracing.TraceParentHeader] = parent;
            if (decoded.TraceState is { } state)
                headers[BusTracing.TraceStateHeader] = state;
            context.Headers = headers;
        }

        return context;
    }

    /// <summary>A keyed delivery, decoded, on its way to its key (waiting for earlier deliveries' decoding, or behind the key's running event).</summary>
    private sealed class Parked(TransportSource source, ITransportDelivery delivery, EventContext context)
    {
        public string Key => context.OrderingKey!;

        /// <summary>Its turn came (the key is held for it): start it here.</summary>
        public void Resume() => source.Start(delivery, context);
    }
}
