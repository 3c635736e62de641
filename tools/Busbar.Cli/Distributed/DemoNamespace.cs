using System.Security.Cryptography;
using Busbar.Cli.Broker;
using Busbar.Cli.Demo;
using Busbar.Nats;
using Busbar.Redis;
using Busbar.Transport;

namespace Busbar.Cli.Distributed;

/// <summary>
/// Where one distributed demo run lives on the broker: its own Redis key prefix or NATS stream and subjects, so a run
/// never receives events a previous one left behind (a new group starts from the beginning of its streams), plus the
/// one consumer group every worker joins and the short lease that lets a killed worker's events come back in seconds.
/// </summary>
/// <param name="RunId">Eight lowercase hex digits, e.g. <c>5f3a09c1</c>.</param>
internal sealed record DemoNamespace(string RunId)
{
    /// <summary>The group every worker competes in: each event is handled by one worker.</summary>
    public const string Group = "demo-pipeline";

    /// <summary>
    /// How long a worker may hold a delivery before the broker gives it to another worker. Short, so a killed worker's
    /// events are claimed (Redis) or redelivered (NATS) within the run; workers extend it while an event is still handled.
    /// </summary>
    /// <remarks>
    /// 3 s, not the 1 s NATS allows: on a loaded machine a worker that has just started can take over a second to get to
    /// a delivery it fetched, and a lease that expires first hands the event to a second worker (a duplicate, though
    /// still counted once).
    /// </remarks>
    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(3);

    /// <summary>The names the workers consume: the orders the demo publishes and the invoices billing publishes.</summary>
    public static readonly IReadOnlyList<string> Patterns = ["orders.placed", "invoices.*"];

    public static DemoNamespace Create() => new(Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Whether <paramref name="text"/> is a run id as <see cref="Create"/> makes them (the hidden worker command checks it).</summary>
    public static bool IsRunId(string text) => text.Length == 8 && text.All(static c => char.IsAsciiHexDigitLower(c));

    public string RedisKeyPrefix => "busbar-demo-" + RunId + ":";

    public string NatsStreamName => "BUSBAR_DEMO_" + RunId.ToUpperInvariant();

    public string NatsSubjectPrefix => "busbar-demo-" + RunId;

    /// <summary>Connects to the run's namespace; <paramref name="consumer"/> names a worker's Redis consumer (stable per worker number).</summary>
    public Task<IEventTransport> ConnectAsync(BrokerUrl url, string? consumer, CancellationToken cancellationToken) =>
        url.ConnectAsync(
            redis => redis with
            {
                KeyPrefix = RedisKeyPrefix,
                ConsumerName = consumer,
                Lease = Lease,
                JanitorInterval = TimeSpan.FromMilliseconds(250),
                FallbackPollInterval = TimeSpan.FromMilliseconds(250),
            },
            nats => nats with
            {
                StreamName = NatsStreamName,
                SubjectPrefix = NatsSubjectPrefix,
                Lease = Lease,
            },
            cancellationToken);

    /// <summary>The demo's events with their source-generated JSON contracts: what travels through the broker, on both sides.</summary>
    public static EventTypeRegistry Registry() =>
        new EventTypeRegistry().Add(DemoJsonContext.Default.OrderPlaced).Add(DemoJsonContext.Default.InvoiceIssued);

    /// <summary>
    /// The invoice's event id, derived from its order's: a worker that handles a redelivered order publishes the same
    /// invoice id again, so the invoice is one event (NATS stores it once; on Redis a second copy is a duplicate handled
    /// twice, which the summary lists) and the count of published events stays exact.
    /// </summary>
    public static Guid InvoiceId(Guid orderEventId)
    {
        Span<byte> input = stackalloc byte[16 + 8];
        orderEventId.TryWriteBytes(input);
        "invoice!"u8.CopyTo(input[16..]);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(input, hash);

        // RFC 9562 version 8 (custom), variant 10.
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }

    public override string ToString() => RunId;
}
