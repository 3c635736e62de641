using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Nats.Tests;

internal static class NatsTestSupport
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public static EnvelopeCodec Codec(int maxEnvelopeBytes = 64 * 1024) => new(
        new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced).Add(ContractJsonContext.Default.OrderShipped),
        new EnvelopeCodecOptions { MaxEnvelopeBytes = maxEnvelopeBytes });

    /// <summary>Options for a namespace of its own on the server: stream <c>{ns}</c>, subjects <c>{ns}.&gt;</c>.</summary>
    public static NatsTransportOptions Options(NatsServer server, string ns) => new()
    {
        Url = server.Url,
        StreamName = ns.ToUpperInvariant(),
        SubjectPrefix = ns,
        Lease = TimeSpan.FromSeconds(2),
        MaxDeliveries = 3,
        PullExpiry = TimeSpan.FromSeconds(1),
        StatusInterval = TimeSpan.FromMilliseconds(200),
        RequestTimeout = TimeSpan.FromSeconds(2),
    };

    public static string NewNamespace() => "n" + Guid.NewGuid().ToString("N")[..12];

    public static TransportMessage Placed(this EnvelopeCodec codec, int number) => codec.Encode(
        new EventEnvelope { EventId = Guid.CreateVersion7(), Name = "contract.orders.placed", CreatedAt = TimeProvider.System.GetUtcNow() },
        new OrderPlaced(number, "c" + number));

    public static int Number(this EnvelopeCodec codec, ITransportDelivery delivery) => codec.Decode(delivery.Name, delivery.Envelope).Event!.Payload switch
    {
        OrderPlaced placed => placed.Number,
        OrderShipped shipped => shipped.Number,
        var other => throw new InvalidOperationException(other.GetType().Name),
    };

    public static async Task Until(Func<bool> condition, string what, TimeSpan? limit = null)
    {
        using var cts = new CancellationTokenSource(limit ?? Patience);
        while (!condition())
        {
            if (cts.IsCancellationRequested)
                throw new TimeoutException($"Not met in time: {what}");
            await Task.Delay(10);
        }
    }

    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? limit = null)
    {
        using var cts = new CancellationTokenSource(limit ?? Patience);
        while (!await condition())
        {
            if (cts.IsCancellationRequested)
                throw new TimeoutException($"Not met in time: {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>Runs a consumer loop until cancelled: each delivery goes to <paramref name="handle"/>, which settles it.</summary>
    public static Task Consume(ITransportSubscription subscription, Func<ITransportDelivery, Task> handle, CancellationToken token) => Task.Run(async () =>
    {
        try
        {
            await foreach (var delivery in subscription.ReadAllAsync(token))
                await handle(delivery);
        }
        catch (OperationCanceledException)
        {
        }
    });
}
