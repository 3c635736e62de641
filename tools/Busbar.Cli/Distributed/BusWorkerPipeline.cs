using Busbar.Cli.Demo;
using Busbar.Transport;

namespace Busbar.Cli.Distributed;

/// <summary>
/// A worker's pipeline on a bus built with the broker as its transport (<see cref="EventBusBuilder.UseTransport(IEventTransport, EventTypeRegistry, TransportBusOptions?)"/>):
/// the bus joins the demo's group for the pipeline's subscriptions and runs each delivery through the same handlers as the
/// embedded demo (tiers, parallel projections, in-process retries, the slow and the poison handler), acknowledging it
/// when every handler succeeded, dead-lettering it when one failed its last attempt, giving it back when the worker
/// stops first, and extending its lease while its handlers run. <c>billing</c> publishes each invoice on the same bus,
/// so it goes through the broker and any worker may handle it.
/// </summary>
internal sealed class BusWorkerPipeline(IEventTransport transport, int concurrency, TimeProvider time) : IWorkerPipeline
{
    /// <summary>How often the worker reports its bus's retry and failure counters.</summary>
    private static readonly TimeSpan s_statsInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a stopping worker lets the events it holds finish before the bus cancels them (they are then given back).</summary>
    private static readonly TimeSpan s_drain = TimeSpan.FromSeconds(5);

    public async Task RunAsync(WorkerReporter report, CancellationToken stop)
    {
        IEventBus? bus = null;
        var pipeline = new OrderPipeline((invoice, order, ct) => PublishInvoiceAsync(bus!, report, invoice, order, ct));
        bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions
            {
                Name = "demo-worker",
                MaxConcurrentEvents = concurrency,
                HandlerConcurrency = HandlerConcurrency.Parallel,
                SlowHandlerThreshold = OrderPipeline.SlowThreshold,
                DrainTimeout = s_drain,
            })
            .WithTimeProvider(time)
            .UseTransport(
                new ReportingTransport(transport, report, DemoNamespace.Patterns),
                DemoNamespace.Registry(),
                new TransportBusOptions
                {
                    Group = DemoNamespace.Group,

                    // The handlers' own retry policies already gave a failing handler its three attempts in the process: a
                    // failed event goes to the dead letters at once, as in the embedded demo, rather than coming back (and
                    // re-running billing, whose invoice Redis would then store twice).
                    MaxDeliveries = 1,
                    LeaseExtensionInterval = DemoNamespace.Lease / 2,
                })
            .Build();
        await using (bus)
        {
            // The bus subscribes its group to the pipeline's patterns; the transport reports ready once both are joined.
            pipeline.SubscribeTo(bus);
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    ReportStatistics(bus, report);
                    await Task.Delay(s_statsInterval, time, stop);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Stopping: the bus stops taking deliveries, lets the ones it holds finish, gives back the rest.
            }

            await bus.StopAsync(s_drain, CancellationToken.None);
            ReportStatistics(bus, report);
        }
    }

    private static void ReportStatistics(IEventBus bus, WorkerReporter report)
    {
        var statistics = bus.GetStatistics();
        report.Write(WorkerLine.Statistics(statistics.Retried, statistics.Failed));
    }

    /// <summary>
    /// Billing's invoice, published through the broker on the worker's bus with an id derived from the order
    /// (<see cref="DemoNamespace.InvoiceId"/>); the handler waits until the broker accepted it, so the order is never
    /// acknowledged before its invoice is stored.
    /// </summary>
    private static async ValueTask PublishInvoiceAsync(IEventBus bus, WorkerReporter report, InvoiceIssued invoice, EventContext order, CancellationToken cancellationToken)
    {
        var id = DemoNamespace.InvoiceId(order.EventId);

        // Said before it is done: a worker killed now leaves its order unacknowledged, and whoever handles the order
        // again publishes this same id.
        report.Write(WorkerLine.Child(id, order.EventId));
        var handle = await bus.PublishAsync(invoice, new PublishOptions { EventId = id }, cancellationToken);
        var accepted = await handle;
        if (!accepted.IsSuccess)
            throw new InvalidOperationException($"The broker did not accept invoice {id} of order {invoice.OrderNumber}: {accepted.Status}.");
    }
}
