using System.Text;
using System.Text.Json;
using Busbar.Durability;
using Microsoft.Extensions.Logging.Abstractions;

namespace Busbar.Cli.Tests.Wal;

/// <summary><c>wal dead-letters</c> and <c>wal redrive</c> with the query filters, on a log with three dead letters.</summary>
public sealed class WalDeadLetterFilterTests : IDisposable
{
    private static readonly DateTimeOffset s_ten = new(2026, 11, 30, 10, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "busbar-cli-dlq-" + Guid.NewGuid().ToString("N"));

    /// <summary>inventory/orders.placed/InvalidOperationException at 10:00, shipping/orders.shipped/TimeoutException at 11:00, inventory/payments.captured/IOException at 12:00.</summary>
    private readonly Guid[] _letters = [Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid()];

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    private async Task CreateLogAsync()
    {
        (string Event, string Subscription, string Exception)[] rows =
        [
            ("orders.placed", "inventory", "System.InvalidOperationException"),
            ("orders.shipped", "shipping", "System.TimeoutException"),
            ("payments.captured", "inventory", "System.IO.IOException"),
        ];
        await using var log = WriteAheadLog.Open(_dir, new WriteAheadLogOptions { FlushMode = WalFlushMode.None }, TimeProvider.System, NullLogger.Instance);
        for (var i = 0; i < rows.Length; i++)
        {
            var eventId = Guid.NewGuid();
            await log.AppendEventAsync(new WalEventRecord
            {
                EventId = eventId,
                Name = rows[i].Event,
                CorrelationId = eventId,
                CreatedAt = s_ten,
                Attempt = 1,
                Subscriptions = [rows[i].Subscription],
                Payload = Encoding.UTF8.GetBytes("""{"number":1}"""),
            });
            await log.AppendDeadLetterAsync(new WalDeadLetterRecord
            {
                DeadLetterId = _letters[i],
                EventId = eventId,
                SubscriptionName = rows[i].Subscription,
                Attempts = 1,
                ExceptionType = rows[i].Exception,
                ExceptionMessage = "failed " + i,
                FailedAt = s_ten.AddHours(i),
            });
        }
    }

    private async Task<Guid[]> ListedAsync(params string[] filters)
    {
        var run = await CliRun.RunAsync(["wal", "dead-letters", _dir, "--json", .. filters]);
        Assert.Equal(0, run.ExitCode);
        using var json = JsonDocument.Parse(run.Output);
        return [.. json.RootElement.GetProperty("deadLetters").EnumerateArray().Select(l => l.GetProperty("deadLetterId").GetGuid())];
    }

    [Fact]
    public async Task DeadLetters_EachFilter_ListsOnlyMatching()
    {
        await CreateLogAsync();

        Assert.Equal(_letters, await ListedAsync());
        Assert.Equal([_letters[0], _letters[2]], await ListedAsync("--subscription", "inventory"));
        Assert.Equal([_letters[0], _letters[1]], await ListedAsync("--event", "orders.*"));
        Assert.Equal([_letters[2]], await ListedAsync("--event", "payments.captured"));
        Assert.Equal([_letters[1]], await ListedAsync("--exception", "TimeoutException"));
        Assert.Equal([_letters[2]], await ListedAsync("--exception", "System.IO.IOException"));
        Assert.Equal([_letters[1], _letters[2]], await ListedAsync("--since", "2026-11-30T11:00:00Z"));
        Assert.Equal([_letters[0]], await ListedAsync("--until", "2026-11-30T11:00Z"));
        Assert.Equal([_letters[1]], await ListedAsync("--since", "2026-11-30T11:30+01:00", "--until", "2026-11-30T12:00:00Z"));
        Assert.Equal([_letters[0], _letters[1], _letters[2]], await ListedAsync("--since", "2026-11-30"));
        Assert.Equal([_letters[2]], await ListedAsync("--subscription", "inventory", "--since", "2026-11-30T11:00Z"));
        Assert.Empty(await ListedAsync("--subscription", "shipping", "--exception", "IOException"));
    }

    [Fact]
    public async Task DeadLetters_TextWithFilter_SaysHowManyOfAllMatch()
    {
        await CreateLogAsync();

        var run = await CliRun.RunAsync("wal", "dead-letters", _dir, "--subscription", "inventory");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("2 of 3 dead letters in", run.Output);
        Assert.Contains(_letters[0].ToString(), run.Output);
        Assert.DoesNotContain(_letters[1].ToString(), run.Output);
    }

    [Fact]
    public async Task Redrive_ByFilter_RedrivesOnlyMatching()
    {
        await CreateLogAsync();

        var run = await CliRun.RunAsync("wal", "redrive", _dir, "--subscription", "inventory", "--event", "orders.**");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("1 dead letters re-driven", run.Output);
        Assert.Contains(_letters[0].ToString(), run.Output);
        Assert.Equal([_letters[1], _letters[2]], await ListedAsync());
        var inspect = await CliRun.RunAsync("wal", "inspect", _dir);
        Assert.Contains("pending events: 1; dead letters: 2", inspect.Output);
    }

    [Fact]
    public async Task Redrive_FilterMatchingNothing_RedrivesNothing()
    {
        await CreateLogAsync();

        var run = await CliRun.RunAsync("wal", "redrive", _dir, "--exception", "ArgumentException");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("0 dead letters re-driven", run.Output);
        Assert.Equal(_letters, await ListedAsync());
    }
}
