using System.Text;
using System.Text.Json;
using Busbar.Cli.Broker;
using Busbar.Transport;

namespace Busbar.Cli.Tests.Broker;

/// <summary>How the broker commands show an envelope's priority, deadline and ordering key (no broker needed).</summary>
public sealed class BrokerEventTests
{
    private static BrokerEvent Event(int priority = 0, string? key = null, DateTimeOffset? deadline = null)
    {
        var envelope = new EventEnvelope
        {
            EventId = Guid.CreateVersion7(),
            Name = "orders.placed",
            CreatedAt = new DateTimeOffset(2026, 11, 30, 9, 30, 1, TimeSpan.Zero),
            Priority = priority,
            OrderingKey = key,
            Deadline = deadline,
        };
        using var body = JsonDocument.Parse("""{"n":1}""");
        return BrokerEvent.Read("orders.placed", EnvelopeCodec.EncodeJson(envelope, body.RootElement, 1024).Envelope);
    }

    [Fact]
    public void ToLine_PriorityAndDeadline_ShownWhenSetAndTheKeyOnlyWithThePayload()
    {
        var deadline = new DateTimeOffset(2026, 11, 30, 10, 30, 1, TimeSpan.FromHours(1));
        var full = Event(priority: 2, key: "customer-42", deadline: deadline);

        var line = full.ToLine(payload: false);
        var withPayload = full.ToLine(payload: true);
        var plain = Event().ToLine(payload: true);

        Assert.EndsWith(" priority=2 deadline=2026-11-30T09:30:01.000Z", line, StringComparison.Ordinal);
        Assert.DoesNotContain("customer-42", line, StringComparison.Ordinal);
        Assert.Contains(" deadline=2026-11-30T09:30:01.000Z key=customer-42 payload={\"n\":1}", withPayload, StringComparison.Ordinal);
        Assert.DoesNotContain("priority=", plain, StringComparison.Ordinal);
        Assert.DoesNotContain("deadline=", plain, StringComparison.Ordinal);
        Assert.DoesNotContain("key=", plain, StringComparison.Ordinal);
    }

    [Fact]
    public void WriteJson_PriorityAndDeadline_WrittenWhenSetAndTheKeyOnlyWithThePayload()
    {
        var full = Event(priority: -1, key: "customer-42", deadline: new DateTimeOffset(2026, 11, 30, 10, 0, 0, TimeSpan.Zero));

        var without = Json(full, payload: false);
        var with = Json(full, payload: true);
        var plain = Json(Event(), payload: false);

        Assert.Equal(-1, without.GetProperty("priority").GetInt32());
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 10, 0, 0, TimeSpan.Zero), without.GetProperty("deadline").GetDateTimeOffset());
        Assert.False(without.TryGetProperty("orderingKey", out _));
        Assert.Equal("customer-42", with.GetProperty("orderingKey").GetString());
        Assert.False(plain.TryGetProperty("priority", out _));
        Assert.False(plain.TryGetProperty("deadline", out _));
    }

    private static JsonElement Json(BrokerEvent e, bool payload)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            e.WriteJson(writer, payload);
            writer.WriteEndObject();
        }

        return JsonDocument.Parse(Encoding.UTF8.GetString(stream.ToArray())).RootElement.Clone();
    }
}
