using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Busbar.Transport;
using Spectre.Console.Testing;

namespace Busbar.Cli.Tests.Broker;

/// <summary>
/// <c>busbar tail</c>, <c>publish</c>, <c>dead-letters</c> and <c>redrive</c> against a real broker; subclassed per
/// broker, so Redis and NATS run the same commands through the one <see cref="IEventTransport"/> code path.
/// </summary>
public abstract class BrokerCommandTests : IAsyncLifetime
{
    private static readonly TimeSpan s_patience = TimeSpan.FromSeconds(20);
    private readonly List<IAsyncDisposable> _cleanup = [];

    /// <summary>The broker URL the commands get, e.g. <c>redis://127.0.0.1:40123</c>.</summary>
    protected abstract string Url { get; }

    /// <summary>A transport on the same broker and namespace the CLI uses (its defaults).</summary>
    protected abstract ValueTask<IEventTransport> ConnectAsync();

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        for (var i = _cleanup.Count - 1; i >= 0; i--)
            await _cleanup[i].DisposeAsync();
    }

    [Fact]
    public async Task Publish_ValidEvent_PrintsItsIdAndAGroupReceivesIt()
    {
        var name = UniqueName("placed");
        var transport = await TransportAsync();
        var subscription = await SubscribeAsync(transport, "billing", name);
        var correlation = Guid.NewGuid();

        var run = await CliRun.RunAsync("publish", Url, name, """{"orderId":42,"lines":["a","b"]}""", "--correlation-id", correlation.ToString(),
            "--priority", "-2", "--ordering-key", "customer-42", "--deadline", "2126-11-30T12:00:00Z");

        Assert.True(run.ExitCode == 0, run.Error);
        var id = Guid.Parse(run.Output.Trim());
        var delivery = await NextAsync(subscription);
        var metadata = EnvelopeCodec.ReadMetadata(delivery.Envelope, out var body, out var problem);
        Assert.True(metadata is not null, problem);
        Assert.Equal(id, metadata.EventId);
        Assert.Equal(name, metadata.Name);
        Assert.Equal(correlation, metadata.CorrelationId);
        Assert.Equal((-2, "customer-42", new DateTimeOffset(2126, 11, 30, 12, 0, 0, TimeSpan.Zero)), (metadata.Priority, metadata.OrderingKey, metadata.Deadline));
        Assert.Equal(42, JsonDocument.Parse(body).RootElement.GetProperty("orderId").GetInt32());
        await delivery.AckAsync();
    }

    [Fact]
    public async Task Tail_EventsPublished_PrintsMatchingOnesAndEveryGroupStillGetsThemAll()
    {
        var placed = UniqueName("placed");
        var other = placed.Replace(".placed", "x.other", StringComparison.Ordinal);
        var pattern = placed[..placed.LastIndexOf('.')] + ".*";
        var transport = await TransportAsync();
        var subscription = await SubscribeAsync(transport, "billing", placed);

        using var interrupt = new CliInterrupt();
        var tail = CliRun.RunAsync(new TestConsole().Width(160), interrupt, "tail", Url, pattern, "--json", "--payload", "--count", "2");

        // The tail reads what is published after it started: publish until it has printed two events (bounded).
        var published = 0;
        using (var limit = new CancellationTokenSource(s_patience))
        {
            while (!tail.IsCompleted)
            {
                Assert.False(limit.IsCancellationRequested, "the tail printed fewer than 2 events in time");
                published++;
                await PublishAsync(transport, other, published);
                await PublishAsync(transport, placed, published);
                await Task.WhenAny(tail, Task.Delay(200, CancellationToken.None));
            }
        }

        var run = await tail;
        Assert.True(run.ExitCode == 0, run.Error);
        var lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(2, lines.Length);
        var numbers = new List<int>();
        foreach (var line in lines)
        {
            var record = JsonDocument.Parse(line).RootElement;
            Assert.Equal(placed, record.GetProperty("name").GetString());
            Assert.True(Guid.TryParse(record.GetProperty("eventId").GetString(), out _));
            Assert.True(record.GetProperty("bytes").GetInt32() > 0);
            Assert.Equal(JsonValueKind.Null, record.GetProperty("causationId").ValueKind);
            numbers.Add(record.GetProperty("payload").GetProperty("n").GetInt32());
        }

        Assert.Equal(numbers[0] + 1, numbers[1]);

        // Tailing took nothing from the group: it receives every event published, in order.
        var deliveries = new List<int>();
        for (var i = 0; i < published; i++)
        {
            var delivery = await NextAsync(subscription);
            deliveries.Add(NumberOf(delivery));
            await delivery.AckAsync();
        }

        Assert.Equal(Enumerable.Range(1, published), deliveries);
    }

    [Fact]
    public async Task Tail_TextWithoutPayloadFlag_PrintsMetadataButNoBody()
    {
        var name = UniqueName("placed");
        var transport = await TransportAsync();
        using var interrupt = new CliInterrupt();
        var tail = CliRun.RunAsync(new TestConsole().Width(160), interrupt, "tail", Url, name, "--count", "1");
        using (var limit = new CancellationTokenSource(s_patience))
        {
            for (var n = 1; !tail.IsCompleted; n++)
            {
                Assert.False(limit.IsCancellationRequested, "the tail printed nothing in time");
                await PublishAsync(transport, name, n);
                await Task.WhenAny(tail, Task.Delay(200, CancellationToken.None));
            }
        }

        var run = await tail;
        Assert.True(run.ExitCode == 0, run.Error);
        var line = run.Output.Trim();
        Assert.Contains($" {name} id=", line, StringComparison.Ordinal);
        Assert.Contains(" corr=- cause=- size=", line, StringComparison.Ordinal);
        Assert.DoesNotContain("payload", line, StringComparison.Ordinal);
        Assert.DoesNotContain("\"n\"", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tail_CtrlC_StopsCleanlyWithExitCodeZero()
    {
        using var interrupt = new CliInterrupt();
        var error = new SynchronizedWriter();
        var tail = CliRun.RunAsync(new CliConsole(new TestConsole().Width(160), error), interrupt, "tail", Url);
        await Eventually.TrueAsync(() => error.Text.Contains("busbar: tailing '*'", StringComparison.Ordinal) || tail.IsCompleted, "the tail started");

        interrupt.Request("Ctrl+C");
        var run = await tail;

        Assert.True(run.ExitCode == 0, error.Text);
        Assert.Equal("", run.Output);
        Assert.Contains("busbar: tail stopped after 0 events.", error.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeadLettersAndRedrive_TerminatedEvent_IsListedThenRedrivenToItsGroup()
    {
        var name = UniqueName("poison");
        var transport = await TransportAsync();
        var subscription = await SubscribeAsync(transport, "billing", name);
        await PublishAsync(transport, name, 7);
        var first = await NextAsync(subscription);
        await first.TerminateAsync("card declined");
        var letter = await DeadLetterAsync(transport, name);

        var text = await CliRun.RunAsync("dead-letters", Url);
        Assert.True(text.ExitCode == 0, text.Error);
        Assert.Contains($"{letter.Id}  group billing, 1 deliveries", text.Output, StringComparison.Ordinal);
        Assert.Contains("  reason  card declined", text.Output, StringComparison.Ordinal);

        var json = await CliRun.RunAsync("dead-letters", Url, "--json");
        Assert.True(json.ExitCode == 0, json.Error);
        var listed = JsonDocument.Parse(json.Output).RootElement.GetProperty("deadLetters").EnumerateArray()
            .Single(d => d.GetProperty("id").GetString() == letter.Id);
        Assert.Equal("card declined", listed.GetProperty("reason").GetString());
        Assert.Equal(name, listed.GetProperty("event").GetProperty("name").GetString());

        var redrive = await CliRun.RunAsync("redrive", Url, "--id", letter.Id);

        Assert.True(redrive.ExitCode == 0, redrive.Error);
        Assert.Contains($"re-driven {letter.Id}: {name}", redrive.Output, StringComparison.Ordinal);
        var again = await NextAsync(subscription);
        Assert.Equal(first.Envelope.ToArray(), again.Envelope.ToArray());
        await again.AckAsync();
        Assert.DoesNotContain(await transport.ReadDeadLettersAsync(1000), d => d.Id == letter.Id);
    }

    [Fact]
    public async Task Redrive_UnknownId_FailsWithExitCodeOne()
    {
        var run = await CliRun.RunAsync("redrive", Url, "--id", "424242");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("no dead letter with id '424242'", run.Error, StringComparison.Ordinal);
    }

    protected static string UniqueName(string last) => $"t{Guid.NewGuid():N}.{last}";

    private async Task<IEventTransport> TransportAsync()
    {
        var transport = await ConnectAsync();
        _cleanup.Add(transport);
        return transport;
    }

    private async Task<IAsyncEnumerator<ITransportDelivery>> SubscribeAsync(IEventTransport transport, string group, string pattern)
    {
        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = group, Patterns = [pattern] });
        _cleanup.Add(subscription);
        var reader = subscription.ReadAllAsync().GetAsyncEnumerator();
        return reader;
    }

    private static async Task<ITransportDelivery> NextAsync(IAsyncEnumerator<ITransportDelivery> reader)
    {
        Assert.True(await reader.MoveNextAsync().AsTask().WaitAsync(s_patience), "the subscription ended");
        return reader.Current;
    }

    private static async Task PublishAsync(IEventTransport transport, string name, int n)
    {
        var envelope = new EventEnvelope { EventId = Guid.CreateVersion7(), Name = name, CreatedAt = DateTimeOffset.UtcNow };
        using var body = JsonDocument.Parse($$"""{"n":{{n}}}""");
        await transport.PublishAsync([EnvelopeCodec.EncodeJson(envelope, body.RootElement, 1024 * 1024)]);
    }

    private static int NumberOf(ITransportDelivery delivery)
    {
        Assert.NotNull(EnvelopeCodec.ReadMetadata(delivery.Envelope, out var body, out _));
        return JsonDocument.Parse(body).RootElement.GetProperty("n").GetInt32();
    }

    private static async Task<TransportDeadLetter> DeadLetterAsync(IEventTransport transport, string name)
    {
        using var limit = new CancellationTokenSource(s_patience);
        while (true)
        {
            if ((await transport.ReadDeadLettersAsync(1000)).FirstOrDefault(d => d.Name == name) is { } letter)
                return letter;
            Assert.False(limit.IsCancellationRequested, $"no dead letter of {name} in time");
            await Task.Delay(20, CancellationToken.None);
        }
    }

    /// <summary>A loopback port nothing listens on (taken from the OS, then released).</summary>
    protected static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A writer the test reads while the command writes to it.</summary>
    private sealed class SynchronizedWriter : StringWriter
    {
        private readonly Lock _lock = new();

        public string Text
        {
            get
            {
                lock (_lock)
                    return ToString();
            }
        }

        public override void Write(char value)
        {
            lock (_lock)
                base.Write(value);
        }

        public override void Write(string? value)
        {
            lock (_lock)
                base.Write(value);
        }

        public override void WriteLine(string? value)
        {
            lock (_lock)
                base.WriteLine(value);
        }
    }
}
