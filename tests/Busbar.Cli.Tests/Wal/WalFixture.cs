using System.Text;
using Busbar.Durability;
using Microsoft.Extensions.Logging.Abstractions;

namespace Busbar.Cli.Tests.Wal;

/// <summary>A temporary write-ahead log with one finished event, one unfinished event and one dead letter.</summary>
internal sealed class WalFixture : IDisposable
{
    private WalFixture(string directory) => Directory = directory;

    public string Directory { get; }

    public Guid UnfinishedEventId { get; } = Guid.NewGuid();

    public Guid PoisonEventId { get; } = Guid.NewGuid();

    public Guid DeadLetterId { get; } = Guid.NewGuid();

    /// <param name="pending">The subscriptions the unfinished event still waits for.</param>
    public static async Task<WalFixture> CreateAsync(params string[] pending)
    {
        if (pending.Length == 0)
            pending = ["email"];
        var fixture = new WalFixture(Path.Combine(Path.GetTempPath(), "busbar-cli-wal-" + Guid.NewGuid().ToString("N")));
        await using var log = WriteAheadLog.Open(fixture.Directory, new WriteAheadLogOptions { FlushMode = WalFlushMode.None }, TimeProvider.System, NullLogger.Instance);
        var done = Guid.NewGuid();
        await log.AppendEventAsync(Event(done, "orders.placed", "inventory"));
        await log.AppendHandlerFinishedAsync(done, "inventory", WalHandlerStatus.Succeeded, 1);
        await log.AppendEventAsync(Event(fixture.UnfinishedEventId, "orders.placed", ["inventory", .. pending]));
        await log.AppendHandlerFinishedAsync(fixture.UnfinishedEventId, "inventory", WalHandlerStatus.Succeeded, 1);
        await log.AppendEventAsync(Event(fixture.PoisonEventId, "orders.placed", "inventory"));
        await log.AppendDeadLetterAsync(new WalDeadLetterRecord
        {
            DeadLetterId = fixture.DeadLetterId,
            EventId = fixture.PoisonEventId,
            SubscriptionName = "inventory",
            Attempts = 3,
            ExceptionType = "System.InvalidOperationException",
            ExceptionMessage = "SKU POISON-1 of order 37 is not in the catalogue.",
            FailedAt = DateTimeOffset.UnixEpoch,
        });
        return fixture;
    }

    public string SegmentPath => System.IO.Directory.GetFiles(Directory, "*.wal").Order(StringComparer.Ordinal).First();

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static WalEventRecord Event(Guid id, string name, params string[] subscriptions) => new()
    {
        EventId = id,
        Name = name,
        CorrelationId = id,
        CreatedAt = DateTimeOffset.UnixEpoch,
        Attempt = 1,
        Subscriptions = subscriptions,
        Payload = Encoding.UTF8.GetBytes("""{"number":37}"""),
    };
}
