using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Redis.Tests;

internal static class RedisTestSupport
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public static EnvelopeCodec Codec(int maxEnvelopeBytes = 64 * 1024) => new(
        new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced).Add(ContractJsonContext.Default.OrderShipped),
        new EnvelopeCodecOptions { MaxEnvelopeBytes = maxEnvelopeBytes });

    public static RedisTransportOptions Options(RedisServer server, string consumer = "a") => new()
    {
        Configuration = server.Configuration,
        KeyPrefix = "f:",
        ConsumerName = consumer,
        Lease = TimeSpan.FromSeconds(2),
        MaxDeliveries = 3,
        JanitorInterval = TimeSpan.FromMilliseconds(50),
        FallbackPollInterval = TimeSpan.FromMilliseconds(250),
        Retention = TimeSpan.Zero,
    };

    public static TransportMessage Placed(this EnvelopeCodec codec, int number) => codec.Encode(
        new EventEnvelope { EventId = Guid.CreateVersion7(), Name = "contract.orders.placed", CreatedAt = TimeProvider.System.GetUtcNow() },
        new OrderPlaced(number, "c" + number));

    public static int Number(this EnvelopeCodec codec, ITransportDelivery delivery) =>
        ((OrderPlaced)codec.Decode(delivery.Name, delivery.Envelope).Event!.Payload).Number;

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
