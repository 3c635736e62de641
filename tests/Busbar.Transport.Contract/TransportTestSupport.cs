using Busbar.Transport;

namespace Busbar.Transport.Contract;

/// <summary>What the transports' own test suites share: the contract events' codec, messages, and bounded waits.</summary>
public static class TransportTestSupport
{
    /// <summary>How long a test waits for what must happen (generous: a loaded 2-core machine).</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>A codec for the contract events.</summary>
    public static EnvelopeCodec Codec(int maxEnvelopeBytes = 64 * 1024) => new(
        new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced).Add(ContractJsonContext.Default.OrderShipped),
        new EnvelopeCodecOptions { MaxEnvelopeBytes = maxEnvelopeBytes });

    /// <summary>An <see cref="OrderPlaced"/> numbered <paramref name="number"/>, encoded as a transport message.</summary>
    public static TransportMessage Placed(this EnvelopeCodec codec, int number) => codec.Encode(
        new EventEnvelope { EventId = Guid.CreateVersion7(), Name = "contract.orders.placed", CreatedAt = TimeProvider.System.GetUtcNow() },
        new OrderPlaced(number, "c" + number));

    /// <summary>The number of the contract event a delivery carries.</summary>
    public static int Number(this EnvelopeCodec codec, ITransportDelivery delivery) => codec.Decode(delivery.Name, delivery.Envelope).Event!.Payload switch
    {
        OrderPlaced placed => placed.Number,
        OrderShipped shipped => shipped.Number,
        var other => throw new InvalidOperationException(other.GetType().Name),
    };

    /// <summary>Waits until <paramref name="condition"/> holds, checking every 10 ms; a timeout names <paramref name="what"/>.</summary>
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

    /// <summary>As <see cref="Until"/> for a condition that asks the server, checking every 20 ms.</summary>
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
