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
/// Deliveries run on the thread pool, without the reader's execution context: a few pumps (as many as the machine has
/// cores, at least two) start the received deliveries one after the other, each running until its first wait and going on
/// from there by itself, so a busy consumer pays one thread-pool item per burst rather than one per delivery. The
/// transport's in-flight bound (<see cref="EventBusOptions.MaxConcurrentEvents"/> per subscription) limits how many run at
/// once, as the worker count does for the local queue; a handler that blocks its thread synchronously holds a pump, so
/// handlers that wait should be asynchronous. While a delivery's handlers run past <see cref="TransportBusOptions.LeaseExtensionInterval"/>, its
/// lease is extended at that interval.
/// </remarks>
/// <param name="dispatcher">The engine.</param>
/// <param name="router">Resolves the route by the decoded type and name.</param>
/// <param name="codec">Decodes envelopes.</param>
/// <param name="settler">Acks, retries later or terminates.</param>
/// <param name="origin">The bus name: the consumed event's <see cref="EventContext.Path"/> starts with it.</param>
/// <param name="time">The bus's clock, for the lease timer and context timestamps.</param>
/// <param name="leaseExtension">How often a running delivery's lease is extended.</param>
/// <param name="logger">Logs faults.</param>
/// <param name="receiver">
/// The bus that consumes the deliveries, set as each context's <see cref="EventContext.Bus"/> so a handler can publish
/// follow-ups on it; the source calls nothing on it.
/// </param>
internal sealed class TransportSource(EventDispatcher dispatcher, Router router, EnvelopeCodec codec, TransportSettler settler, string origin, TimeProvider time, TimeSpan leaseExtension, ILogger logger, InProcessEventBus receiver)
{
    private readonly BusyCounter _running = new();
    private readonly ConcurrentQueue<ITransportDelivery> _ready = new();
    private readonly int _maxPumps = Math.Max(2, Environment.ProcessorCount);
    private int _pumps;

    /// <summary>Deliveries received and not yet settled.</summary>
    public long Running => _running.Count;

    /// <summary>Queues a delivery for the pumps; it is settled there.</summary>
    public void Start(ITransportDelivery delivery)
    {
        _running.Enter();
        _ready.Enqueue(delivery);
        if (TryAddPump())
            ThreadPool.UnsafeQueueUserWorkItem(static source => source.Pump(), this, preferLocal: false);
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
            while (_ready.TryDequeue(out var delivery))
                _ = RunAsync(delivery);

            Interlocked.Decrement(ref _pumps);

            // A delivery queued while every pump was running relies on one of them to take it: look once more.
            if (_ready.IsEmpty || !TryAddPump())
                return;
        }
    }

    /// <summary>Completes when no delivery is running any more (call after intake stopped).</summary>
    public Task StopAndWaitIdleAsync() => _running.StopAndWaitIdleAsync();

    /// <summary>Never throws: a fault is logged and the delivery, left unsettled, comes again after its lease.</summary>
    private async Task RunAsync(ITransportDelivery delivery)
    {
        try
        {
            var decoded = codec.Decode(delivery.Name, delivery.Envelope);
            if (!decoded.Succeeded)
            {
                await settler.TerminateUndecodableAsync(delivery, decoded.Reason!).ConfigureAwait(false);
                return;
            }

            var context = CreateContext(delivery, decoded.Event!);
            var route = router.Resolve(decoded.Event!.PayloadType, context.Name);
            context.Route = route;
            context.MarkRunning();
            var pending = dispatcher.DispatchAsync(context, route, default, null, recordResults: true);
            EventStatus status;
            if (pending.IsCompletedSuccessfully)
            {
                status = pending.Result;
            }
            else
            {
                var keeper = new LeaseKeeper(delivery, logger);
                using (time.CreateTimer(static s => ((LeaseKeeper)s!).Extend(), keeper, leaseExtension, leaseExtension))
                    status = await pending.ConfigureAwait(false);
                keeper.Stop();
            }

            await settler.SettleAsync(context, status).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            TransportLogMessages.DeliveryFault(logger, ex, delivery.Name, delivery.DeliveryId);
        }
        finally
        {
            _running.Leave();
        }
    }

    private EventContext CreateContext(ITransportDelivery delivery, DecodedEvent decoded)
    {
        var envelope = decoded.Envelope;
        var context = new EventContext(decoded.Payload, envelope.Name, origin, time)
        {
            EventId = envelope.EventId,
            CreatedAt = envelope.CreatedAt,
            CausationId = envelope.CausationId,
            Attempt = Math.Max(1, delivery.DeliveryCount),
            Delivery = delivery,
        };
        context.BindTo(receiver);
        if (envelope.CorrelationId is { } correlation)
            context.CorrelationId = correlation;
        if (envelope.TraceParent is not null || envelope.Headers.Count > 0)
        {
            // The trace context goes back among the headers, where the process span reads its remote parent.
            var headers = new Dictionary<string, string>(envelope.Headers.Count + 2, StringComparer.Ordinal);
            foreach (var (key, value) in envelope.Headers)
                headers[key] = value;
            if (envelope.TraceParent is { } parent)
                headers[BusTracing.TraceParentHeader] = parent;
            if (envelope.TraceState is { } state)
                headers[BusTracing.TraceStateHeader] = state;
            context.Headers = headers;
        }

        return context;
    }

    /// <summary>Extends one delivery's lease from the timer; stops once the handlers finished.</summary>
    private sealed class LeaseKeeper(ITransportDelivery delivery, ILogger logger)
    {
        private volatile bool _stopped;

        public void Stop() => _stopped = true;

        public void Extend()
        {
            if (!_stopped)
                _ = ExtendAsync();
        }

        /// <summary>Never throws: a failed extension is logged (the delivery may come again to another consumer).</summary>
        private async Task ExtendAsync()
        {
            try
            {
                await delivery.ExtendLeaseAsync().ConfigureAwait(false);
            }
            catch (InvalidOperationException) when (_stopped)
            {
                // Settled meanwhile: nothing to extend.
            }
            catch (Exception ex)
            {
                TransportLogMessages.ExtendFailed(logger, ex, delivery.Name, delivery.DeliveryId);
            }
        }
    }
}
