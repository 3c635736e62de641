using Busbar.Cli.Demo;
using Busbar.Transport;

namespace Busbar.Cli.Distributed;

/// <summary>
/// A worker's pipeline on the transport API: it joins the demo's group with <see cref="IEventTransport.SubscribeAsync"/>,
/// runs each delivery through a local bus with the order pipeline's handlers (tiers, parallel projections, retries,
/// slow and poison handlers, as in the embedded demo), and settles the delivery by the event's outcome: every handler
/// succeeded → ack; a handler failed its last attempt → terminate (the broker's dead letters, with the reason); the
/// worker stopped first → retry later, so another worker gets it. While an event is still being handled its lease is
/// extended, so a slow one is not handed to a second worker.
/// </summary>
internal sealed class TransportWorkerPipeline(IEventTransport transport, int concurrency, TimeProvider time) : IWorkerPipeline
{
    /// <summary>How long a stopping worker lets the events it holds finish before the bus cancels them (they are then given back).</summary>
    private static readonly TimeSpan s_drain = TimeSpan.FromSeconds(5);

    private readonly EnvelopeCodec _codec = DemoNamespace.Codec();

    /// <summary>Deliveries held at once: enough to keep <c>concurrency</c> handlers busy, few enough that a kill strands a handful.</summary>
    private int MaxInFlight => concurrency * 4;

    public async Task RunAsync(WorkerReporter report, CancellationToken stop)
    {
        var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions
            {
                Name = "demo-worker",
                Capacity = Math.Max(64, MaxInFlight * 2),
                MaxConcurrentEvents = concurrency,
                HandlerConcurrency = HandlerConcurrency.Parallel,
                SlowHandlerThreshold = OrderPipeline.SlowThreshold,
                DrainTimeout = s_drain,
            })
            .Build();
        await using (bus)
        {
            var pipeline = new OrderPipeline((invoice, order, ct) => PublishInvoiceAsync(report, invoice, order, ct));
            pipeline.SubscribeTo(bus);
            await using var subscription = await transport.SubscribeAsync(
                new TransportSubscriptionOptions { Group = DemoNamespace.Group, Patterns = DemoNamespace.Patterns, MaxInFlight = MaxInFlight },
                stop);
            report.Write(WorkerLine.Ready());

            // Only this loop touches the list; each task settles its own delivery and never throws.
            var running = new List<Task>();
            try
            {
                await foreach (var delivery in subscription.ReadAllAsync(stop))
                {
                    running.Add(HandleAsync(bus, report, delivery));
                    if (running.Count > MaxInFlight * 2)
                        running.RemoveAll(static t => t.IsCompleted);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Stopping: take no more deliveries; the ones held finish below.
            }

            await bus.StopAsync(s_drain, CancellationToken.None);
            await Task.WhenAll(running);
        }
    }

    private async Task HandleAsync(IEventBus bus, WorkerReporter report, ITransportDelivery delivery)
    {
        try
        {
            var decoded = _codec.Decode(delivery.Name, delivery.Envelope);
            if (decoded.Event is not { } @event)
            {
                report.Write(WorkerLine.Undecodable(delivery.DeliveryId, decoded.Reason ?? "undecodable"));
                await delivery.TerminateAsync(decoded.Reason ?? "undecodable");
                return;
            }

            var envelope = @event.Envelope;
            report.Write(WorkerLine.Received(envelope.EventId, delivery.Name, delivery.DeliveryCount));
            var options = new PublishOptions { EventId = envelope.EventId, CorrelationId = envelope.CorrelationId, CausationId = envelope.CausationId };
            EventHandle handle;
            try
            {
                handle = @event.Payload switch
                {
                    OrderPlaced order => await bus.PublishAsync(order, options with { OrderingKey = order.Customer }),
                    InvoiceIssued invoice => await bus.PublishAsync(invoice, options),
                    _ => throw new InvalidOperationException($"no demo handler for {@event.PayloadType.Name}"),
                };
            }
            catch (BusStoppedException)
            {
                report.Write(WorkerLine.Released(envelope.EventId, delivery.Name, delivery.DeliveryCount));
                await delivery.RetryLaterAsync(TimeSpan.Zero);
                return;
            }

            var outcome = await WaitExtendingLeaseAsync(handle, delivery);
            var failed = FailedAttempts(outcome);
            switch (outcome.Status)
            {
                case EventStatus.Completed:
                    report.Write(WorkerLine.Handled(envelope.EventId, delivery.Name, delivery.DeliveryCount, failed));
                    await delivery.AckAsync();
                    break;
                case EventStatus.Failed:
                    var reason = Reason(outcome);
                    report.Write(WorkerLine.DeadLettered(envelope.EventId, delivery.Name, delivery.DeliveryCount, failed, reason));
                    await delivery.TerminateAsync(reason);
                    break;
                default:
                    // Cancelled by the stop (or refused by a stopping bus): another worker gets it.
                    report.Write(WorkerLine.Released(envelope.EventId, delivery.Name, delivery.DeliveryCount));
                    await delivery.RetryLaterAsync(TimeSpan.Zero);
                    break;
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A broker failure while settling: the delivery is not lost, it comes back after its lease.
            await Console.Error.WriteLineAsync($"busbar demo-worker: delivery {delivery.DeliveryId} of {delivery.Name}: {ex.GetType().Name}: {ex.Message}");
        }
    }

    /// <summary>Waits for the event's outcome, extending the delivery's lease every half lease while handlers still run.</summary>
    private async Task<EventOutcome> WaitExtendingLeaseAsync(EventHandle handle, ITransportDelivery delivery)
    {
        var outcome = handle.AsTask();
        while (true)
        {
            var tick = Task.Delay(DemoNamespace.Lease / 2, time);
            if (await Task.WhenAny(outcome, tick) == outcome)
                return await outcome;
            await delivery.ExtendLeaseAsync();
        }
    }

    /// <summary>Billing's invoice, published through the broker with an id derived from the order (see <see cref="DemoNamespace.InvoiceId"/>).</summary>
    private async ValueTask PublishInvoiceAsync(WorkerReporter report, InvoiceIssued invoice, EventContext order, CancellationToken cancellationToken)
    {
        var id = DemoNamespace.InvoiceId(order.EventId);
        var message = _codec.Encode(
            new EventEnvelope
            {
                EventId = id,
                Name = "invoices.issued",
                CreatedAt = time.GetUtcNow(),
                CorrelationId = order.CorrelationId,
                CausationId = order.EventId,
            },
            invoice);

        // Said before it is done: a worker killed now leaves its order unacknowledged, and whoever handles the order
        // again publishes this same id.
        report.Write(WorkerLine.Child(id, order.EventId));
        await transport.PublishAsync([message], cancellationToken);
    }

    /// <summary>Attempts that failed: every attempt of a handler that gave up, all but the last of one that succeeded.</summary>
    private static int FailedAttempts(EventOutcome outcome)
    {
        var failed = 0;
        foreach (var handler in outcome.Handlers)
            failed += handler.Status == HandlerStatus.Succeeded ? handler.Attempts - 1 : handler.Attempts;
        return failed;
    }

    private static string Reason(EventOutcome outcome)
    {
        foreach (var handler in outcome.Handlers)
        {
            if (handler.Status != HandlerStatus.Succeeded && handler.Status != HandlerStatus.Skipped)
                return $"{handler.Subscription} {handler.Status} after {handler.Attempts} attempts: {handler.Exception?.Message ?? "no exception"}";
        }

        return outcome.Status.ToString();
    }
}
