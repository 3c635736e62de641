using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Tests.Transport;


public sealed class EnvelopeCodecTests
{
    private static EventTypeRegistry Registry() => new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);

    private static EventEnvelope Envelope(string name = "contract.orders.placed") => new()
    {
        EventId = Guid.CreateVersion7(),
        Name = name,
        CreatedAt = new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.FromHours(1)),
    };

    private static ReadOnlyMemory<byte> Utf8(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public void Encode_ThenDecode_RoundTripsPayloadAndMetadata()
    {
        var codec = new EnvelopeCodec(Registry());
        var envelope = Envelope() with { CorrelationId = Guid.NewGuid(), Headers = new Dictionary<string, string> { ["a"] = "b" } };

        var message = codec.Encode(envelope, new Busbar.Transport.Contract.OrderPlaced(1, "x"));
        var result = codec.Decode(message.Name, message.Envelope);

        Assert.True(result.Succeeded, result.Reason);
        Assert.Equal(envelope.EventId, message.EventId);
        Assert.Equal(new Busbar.Transport.Contract.OrderPlaced(1, "x"), result.Event!.Payload);
        Assert.Equal(typeof(Busbar.Transport.Contract.OrderPlaced), result.Event.PayloadType);
        Assert.Equal(envelope.CreatedAt, result.Event.Envelope.CreatedAt);
        Assert.Equal("b", result.Event.Envelope.Headers["a"]);
    }

    [Fact]
    public void Encode_ThenDecode_PriorityOrderingKeyAndDeadlineRoundTripAndAreLeftOutWhenUnset()
    {
        var codec = new EnvelopeCodec(Registry());
        var deadline = new DateTimeOffset(2026, 11, 30, 8, 5, 0, TimeSpan.FromHours(1));
        var set = Envelope() with { Priority = -4, OrderingKey = "customer-7", Deadline = deadline };

        var withThem = codec.Encode(set, new Busbar.Transport.Contract.OrderPlaced(1, "x"));
        var without = codec.Encode(Envelope(), new Busbar.Transport.Contract.OrderPlaced(1, "x"));
        var decoded = codec.Decode(withThem.Name, withThem.Envelope).Event!.Envelope;
        var plain = codec.Decode(without.Name, without.Envelope).Event!.Envelope;
        var tool = EnvelopeCodec.ReadMetadata(withThem.Envelope, out _, out var problem);

        Assert.Equal((-4, "customer-7", (DateTimeOffset?)deadline), (decoded.Priority, decoded.OrderingKey, decoded.Deadline));
        Assert.Equal(deadline.Offset, decoded.Deadline!.Value.Offset);
        Assert.Equal((0, (string?)null, (DateTimeOffset?)null), (plain.Priority, plain.OrderingKey, plain.Deadline));
        Assert.Null(problem);
        Assert.Equal((-4, "customer-7", (DateTimeOffset?)deadline), (tool!.Priority, tool.OrderingKey, tool.Deadline));
        var json = Encoding.UTF8.GetString(without.Envelope.Span);
        Assert.DoesNotContain("priority", json, StringComparison.Ordinal);
        Assert.DoesNotContain("orderingKey", json, StringComparison.Ordinal);
        Assert.DoesNotContain("deadline", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"priority\":\"high\"", "field 'priority' is not a 32-bit integer")]
    [InlineData("\"priority\":1.5", "field 'priority' is not a 32-bit integer")]
    [InlineData("\"priority\":3000000000", "field 'priority' is not a 32-bit integer")]
    [InlineData("\"orderingKey\":7", "field 'orderingKey' is not a string")]
    [InlineData("\"deadline\":\"tomorrow\"", "field 'deadline' is not an ISO 8601 date and time")]
    [InlineData("\"deadline\":null", "field 'deadline' is not an ISO 8601 date and time")]
    public void Decode_MalformedPriorityOrderingKeyOrDeadline_FailsNamingTheField(string field, string reason)
    {
        var codec = new EnvelopeCodec(Registry());
        var json = $$$"""{"id":"{{{Guid.NewGuid()}}}","name":"contract.orders.placed","createdAt":"2026-01-01T00:00:00Z",{{{field}}},"body":{"Number":1,"Customer":"a"}}""";

        var result = codec.Decode("contract.orders.placed", Utf8(json));

        Assert.Equal(EnvelopeDecodeFailure.MalformedEnvelope, result.Failure);
        Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_ReflectionResolver_WorksLikeSourceGenerated()
    {
        var options = new JsonSerializerOptions { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };
        var codec = new EnvelopeCodec(new EventTypeRegistry().Add<Busbar.Transport.Contract.OrderPlaced>(options));
        var message = codec.Encode(Envelope(), new Busbar.Transport.Contract.OrderPlaced(2, "y"));

        Assert.Equal(new Busbar.Transport.Contract.OrderPlaced(2, "y"), codec.Decode(message.Name, message.Envelope).Event!.Payload);
    }

    [Fact]
    public void Decode_FieldsInAnyOrderAndUnknownFields_Accepted()
    {
        var codec = new EnvelopeCodec(Registry());
        var id = Guid.NewGuid();
        var json = $$"""{"body":{"Number":3,"Customer":"z"},"future":[1,{"x":2}],"createdAt":"2026-01-01T00:00:00Z","name":"contract.orders.placed","id":"{{id}}"}""";

        var result = codec.Decode("contract.orders.placed", Utf8(json));

        Assert.True(result.Succeeded, result.Reason);
        Assert.Equal(id, result.Event!.Envelope.EventId);
        Assert.Equal(new Busbar.Transport.Contract.OrderPlaced(3, "z"), result.Event.Payload);
    }

    [Theory]
    [InlineData("", EnvelopeDecodeFailure.MissingEnvelope)]
    [InlineData("[1]", EnvelopeDecodeFailure.MalformedEnvelope)]
    [InlineData("{\"v\":1,", EnvelopeDecodeFailure.MalformedEnvelope)]
    [InlineData("{\"v\":2,\"id\":\"ID\",\"name\":\"contract.orders.placed\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"body\":{}}", EnvelopeDecodeFailure.MalformedEnvelope)]
    [InlineData("{} {}", EnvelopeDecodeFailure.MalformedEnvelope)]
    [InlineData("{\"name\":\"contract.orders.placed\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"body\":{}}", EnvelopeDecodeFailure.MissingField)]
    [InlineData("{\"id\":\"not-a-guid\",\"name\":\"contract.orders.placed\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"body\":{}}", EnvelopeDecodeFailure.MissingField)]
    [InlineData("{\"id\":\"ID\",\"name\":\"contract.orders.placed\",\"body\":{}}", EnvelopeDecodeFailure.MissingField)]
    [InlineData("{\"id\":\"ID\",\"name\":\"contract.orders.placed\",\"createdAt\":\"2026-01-01T00:00:00Z\"}", EnvelopeDecodeFailure.MissingField)]
    [InlineData("{\"id\":\"ID\",\"name\":\"contract.orders.shipped\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"body\":{}}", EnvelopeDecodeFailure.NameMismatch)]
    [InlineData("{\"id\":\"ID\",\"name\":\"contract.orders.placed\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"body\":{\"Number\":\"x\"}}", EnvelopeDecodeFailure.UndecodableBody)]
    [InlineData("{\"id\":\"ID\",\"name\":\"contract.orders.placed\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"body\":null}", EnvelopeDecodeFailure.UndecodableBody)]
    [InlineData("{\"id\":\"ID\",\"name\":\"contract.orders.placed\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"headers\":{\"a\":1},\"body\":{}}", EnvelopeDecodeFailure.MalformedEnvelope)]
    // A registered routed name is recognised by its bytes; what follows the body still counts.
    [InlineData("{\"body\":{\"Number\":1,\"Customer\":\"a\"},\"id\":\"ID\",\"name\":\"contract.orders.shipped\",\"createdAt\":\"2026-01-01T00:00:00Z\"}", EnvelopeDecodeFailure.NameMismatch)]
    [InlineData("{\"body\":{\"Number\":1,\"Customer\":\"a\"},\"id\":\"ID\",\"name\":\"contract..placed\",\"createdAt\":\"2026-01-01T00:00:00Z\"}", EnvelopeDecodeFailure.MissingField)]
    [InlineData("{\"id\":\"ID\",\"name\":\"contract.orders.placed\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"body\":{\"Number\":1,\"Customer\":\"a\"}} x", EnvelopeDecodeFailure.MalformedEnvelope)]
    [InlineData("{\"id\":\"ID\",\"name\":\"contract.orders.placed\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"body\":{\"Number\":1,\"Customer\":\"a\"},\"headers\":[]}", EnvelopeDecodeFailure.MalformedEnvelope)]
    // A body that does not read as the type: a missing field is still reported first.
    [InlineData("{\"name\":\"contract.orders.placed\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"body\":{\"Number\":\"x\"}}", EnvelopeDecodeFailure.MissingField)]
    [InlineData("{\"id\":\"ID\",\"name\":\"contract.orders.placed\",\"createdAt\":\"2026-01-01T00:00:00Z\",\"body\":{\"Number\":1,", EnvelopeDecodeFailure.MalformedEnvelope)]
    public void Decode_BadEnvelope_FailsWithSpecificReasonAndNeverThrows(string json, EnvelopeDecodeFailure expected)
    {
        var codec = new EnvelopeCodec(Registry());

        var result = codec.Decode("contract.orders.placed", Utf8(json.Replace("ID", Guid.NewGuid().ToString(), StringComparison.Ordinal)));

        Assert.Equal(expected, result.Failure);
        Assert.False(result.Succeeded);
        Assert.StartsWith(expected.ToString(), result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_EscapedNameEqualToRoutedName_DecodesUnderTheRoutedName()
    {
        var codec = new EnvelopeCodec(Registry());
        var json = $$$"""{"id":"{{{Guid.NewGuid()}}}","name":"contract.orders\u002Eplaced","createdAt":"2026-01-01T00:00:00Z","body":{"Number":4,"Customer":"w"}}""";

        var result = codec.Decode("contract.orders.placed", Utf8(json));

        Assert.True(result.Succeeded, result.Reason);
        Assert.Equal("contract.orders.placed", result.Event!.Envelope.Name);
        Assert.Equal(new Busbar.Transport.Contract.OrderPlaced(4, "w"), result.Event.Payload);
    }

    [Fact]
    public void Decode_NameBeforeBodyOrAfter_SamePayloadAndMetadata()
    {
        var codec = new EnvelopeCodec(Registry());
        var id = Guid.NewGuid();
        var correlation = Guid.NewGuid();
        var nameFirst = $$$"""{"id":"{{{id}}}","name":"contract.orders.placed","createdAt":"2026-01-01T00:00:00Z","correlationId":"{{{correlation}}}","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","headers":{"k":"v"},"body":{"Number":5,"Customer":"q"}}""";
        var bodyFirst = $$$"""{"body":{"Number":5,"Customer":"q"},"headers":{"k":"v"},"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","correlationId":"{{{correlation}}}","createdAt":"2026-01-01T00:00:00Z","name":"contract.orders.placed","id":"{{{id}}}"}""";

        var first = codec.Decode("contract.orders.placed", Utf8(nameFirst));
        var second = codec.Decode("contract.orders.placed", Utf8(bodyFirst));

        Assert.True(first.Succeeded, first.Reason);
        Assert.True(second.Succeeded, second.Reason);
        foreach (var decoded in new[] { first.Event!, second.Event! })
        {
            Assert.Equal(new Busbar.Transport.Contract.OrderPlaced(5, "q"), decoded.Payload);
            Assert.Equal(id, decoded.Envelope.EventId);
            Assert.Equal(correlation, decoded.Envelope.CorrelationId);
            Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", decoded.Envelope.TraceParent);
            Assert.Equal("v", decoded.Envelope.Headers["k"]);
        }
    }

    [Fact]
    public void Decode_UnknownName_IsNotResolvedByTypeName()
    {
        // The registry is the allow-list: a name that happens to be a loadable type's name is still unknown.
        var codec = new EnvelopeCodec(Registry());
        var json = $$"""{"id":"{{Guid.NewGuid()}}","name":"System.IO.FileInfo","createdAt":"2026-01-01T00:00:00Z","body":"/etc/passwd"}""";

        var result = codec.Decode("System.IO.FileInfo", Utf8(json));

        Assert.Equal(EnvelopeDecodeFailure.UnknownName, result.Failure);
        Assert.Contains("System.IO.FileInfo", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_Oversized_FailsBeforeParsing()
    {
        var codec = new EnvelopeCodec(Registry(), new EnvelopeCodecOptions { MaxEnvelopeBytes = 1024 });
        var huge = new string('x', 2000);

        var result = codec.Decode("contract.orders.placed", Utf8(huge));

        Assert.Equal(EnvelopeDecodeFailure.Oversized, result.Failure);
        Assert.DoesNotContain("xxx", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_BadBody_ReasonDoesNotQuoteThePayload()
    {
        var codec = new EnvelopeCodec(Registry());
        var json = $$$"""{"id":"{{{Guid.NewGuid()}}}","name":"contract.orders.placed","createdAt":"2026-01-01T00:00:00Z","body":{"Number":"secret-4111"}}""";

        var result = codec.Decode("contract.orders.placed", Utf8(json));

        Assert.Equal(EnvelopeDecodeFailure.UndecodableBody, result.Failure);
        Assert.DoesNotContain("secret", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Encode_UnregisteredOrMismatchedOrOversized_ThrowsArgumentException()
    {
        var codec = new EnvelopeCodec(Registry(), new EnvelopeCodecOptions { MaxEnvelopeBytes = 256 });

        var unknown = Assert.Throws<ArgumentException>(() => codec.Encode(Envelope("contract.nope"), new Busbar.Transport.Contract.OrderPlaced(1, "x")));
        var mismatch = Assert.Throws<ArgumentException>(() => codec.Encode(Envelope(), new Busbar.Transport.Contract.OrderShipped(1)));
        var oversized = Assert.Throws<ArgumentException>(() => codec.Encode(Envelope(), new Busbar.Transport.Contract.OrderPlaced(1, new string('x', 300))));

        Assert.Contains("not registered", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("OrderPlaced", mismatch.Message, StringComparison.Ordinal);
        Assert.Contains("MaxEnvelopeBytes", oversized.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Add_SameNameForAnotherType_Throws()
    {
        var registry = Registry();

        var error = Assert.Throws<ArgumentException>(() => registry.Add(ClashJsonContext.Default.Clash));

        Assert.Contains("contract.orders.placed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_Invalid_ThrowsNamingTheOption()
    {
        var error = Assert.Throws<ArgumentException>(() => new EnvelopeCodec(Registry(), new EnvelopeCodecOptions { MaxEnvelopeBytes = 10 }));

        Assert.Contains("EnvelopeCodecOptions.MaxEnvelopeBytes", error.Message, StringComparison.Ordinal);
    }
}

[EventName("contract.orders.placed")]
public sealed record Clash(int Number);

[System.Text.Json.Serialization.JsonSerializable(typeof(Clash))]
internal sealed partial class ClashJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
