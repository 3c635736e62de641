using System.Text;
using System.Text.Json;
using Busbar.Serialization;
using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Tests.Serialization;

/// <summary>One payload serializer for the write-ahead log and the wire envelope.</summary>
public class PayloadSerializerTests
{
    private const string Placed = "contract.orders.placed";

    [Fact]
    public void SerializeToUtf8Bytes_LogAndWire_WriteTheSameJsonForOnePayload()
    {
        var order = new Busbar.Transport.Contract.OrderPlaced(7, "seven");
        var names = new EventNameRegistry();
        var log = new PayloadSerializer(names, ContractJsonContext.Default.Options, "the write-ahead log");
        var codec = new EnvelopeCodec(new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced));
        var envelope = new EventEnvelope { EventId = Guid.CreateVersion7(), Name = Placed, CreatedAt = DateTimeOffset.UnixEpoch };

        var logged = log.SerializeToUtf8Bytes(Placed, order);
        var message = codec.Encode(envelope, order);
        using var wire = JsonDocument.Parse(message.Envelope);

        Assert.Equal(wire.RootElement.GetProperty("body").GetRawText(), Encoding.UTF8.GetString(logged));
        Assert.Equal(typeof(Busbar.Transport.Contract.OrderPlaced), names.Resolve(Placed));
    }

    [Fact]
    public void SerializeToUtf8Bytes_PayloadThatCannotBeWritten_ArgumentExceptionNamingEventAndDestination()
    {
        var log = new PayloadSerializer(new EventNameRegistry(), ContractJsonContext.Default.Options, "the write-ahead log");

        var error = Assert.Throws<ArgumentException>(() => log.SerializeToUtf8Bytes("not.in.context", new Unknown(1)));

        Assert.Contains("'not.in.context'", error.Message, StringComparison.Ordinal);
        Assert.Contains("cannot be serialized for the write-ahead log", error.Message, StringComparison.Ordinal);
        Assert.NotNull(error.InnerException);
    }

    [Fact]
    public void Find_AllowList_UnknownNameIsNeverResolved()
    {
        var wire = new PayloadSerializer(new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced).Snapshot(), "a transport");

        Assert.Null(wire.Find("System.String"));
        Assert.Null(wire.Resolve("contract.nope"));
        Assert.Equal(typeof(Busbar.Transport.Contract.OrderPlaced), wire.Find(Placed)!.Type);
    }

    private sealed record Unknown(int Value);
}
