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
/// Every delivery runs on the thread pool, without the reader's execution context: the transport's in-flight bound
/// (<see cref="EventBusOptions.MaxConcurrentEvents"/> per subscription) is what limits concurrency, as the worker count does
/// for the local queue. While a delivery's handlers run past <see cref="TransportBusOptions.LeaseExtensionInterval"/>, its
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

    /// <summary>Deliveries received and not yet settled.</summary>
    public long Running => _running.Count;

    /// <summary>Hands a delivery to the thread pool; it is settled there.</summary>
    public void Start(ITransportDelivery delivery)
    {
        _running.Enter();
        ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.Source.RunAsync(state.Delivery), (Source: this, Delivery: delivery), preferLocal: false);
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
