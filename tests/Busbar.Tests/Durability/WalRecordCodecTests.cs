using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Busbar.Durability;

namespace Busbar.Tests.Durability;

public class WalRecordCodecTests
{
    [Fact]
    public void Crc32C_KnownVector_MatchesCastagnoli() =>
        Assert.Equal(0xE3069283u, WalFormat.Crc32C("123456789"u8));

    [Fact]
    public void EventRecord_RoundTrip_PreservesEveryField()
    {
        var record = WalTestRecords.Event(subscriptions: ["billing", "shipping"]);

        var decoded = Assert.IsType<WalEventRecord>(RoundTrip(record));

        WalTestRecords.AssertEqual(record, decoded);
    }

    [Fact]
    public void EventRecord_NullOptionalFields_RoundTripAsNull()
    {
        var record = new WalEventRecord
        {
            EventId = Guid.NewGuid(),
            Name = "",
            Subscriptions = [],
            CreatedAt = DateTimeOffset.MinValue,
        };

        var decoded = Assert.IsType<WalEventRecord>(RoundTrip(record));

        WalTestRecords.AssertEqual(record, decoded);
        Assert.Null(decoded.CausationId);
        Assert.Null(decoded.OrderingKey);
        Assert.Null(decoded.Deadline);
        Assert.Null(decoded.Headers);
    }

    [Fact]
    public void EventRecord_NonUtcTimestamps_DecodeAsSameInstantInUtc()
    {
        var record = WalTestRecords.Event() with { CreatedAt = new DateTimeOffset(2025, 5, 1, 12, 0, 0, TimeSpan.FromHours(2)) };

        var decoded = Assert.IsType<WalEventRecord>(RoundTrip(record));

        Assert.Equal(record.CreatedAt, decoded.CreatedAt);
        Assert.Equal(TimeSpan.Zero, decoded.CreatedAt.Offset);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void HandlerFinishedRecord_RoundTrip_PreservesEveryField(byte status)
    {
        var record = new WalHandlerFinishedRecord { EventId = Guid.NewGuid(), SubscriptionName = "billing", Status = (WalHandlerStatus)status, Attempts = 4 };

        Assert.Equal(record, RoundTrip(record));
    }

    [Fact]
    public void DeadLetterRecord_RoundTrip_PreservesEveryField()
    {
        var record = WalTestRecords.DeadLetter(Guid.NewGuid(), "billing");

        Assert.Equal(record, RoundTrip(record));
    }

    [Fact]
    public void DeadLetterRedrivenRecord_RoundTrip_PreservesEveryField()
    {
        var record = new WalDeadLetterRedrivenRecord { DeadLetterId = Guid.NewGuid() };

        Assert.Equal(record, RoundTrip(record));
    }

    [Fact]
    public void DecodeBody_TruncatedBody_ThrowsWalFormatException()
    {
        var frame = Encode(WalTestRecords.Event());
        var body = frame.AsSpan(WalFormat.FrameHeaderSize, frame.Length - WalFormat.FrameOverhead - 3).ToArray();

        Assert.Throws<WalFormatException>(() => WalRecordCodec.DecodeBody(WalRecordType.EventAppended, body));
    }

    [Fact]
    public void DecodeBody_TrailingBytes_ThrowsWalFormatException()
    {
        var body = new byte[17];

        Assert.Throws<WalFormatException>(() => WalRecordCodec.DecodeBody(WalRecordType.DeadLetterRedriven, body));
    }

    [Fact]
    public void DecodeBody_UnknownType_ThrowsWalFormatException() =>
        Assert.Throws<WalFormatException>(() => WalRecordCodec.DecodeBody((WalRecordType)99, new byte[16]));

    [Fact]
    public void DecodeBody_InvalidUtf8_ThrowsWalFormatException()
    {
        var body = new byte[16 + 4 + 2 + 1 + 4];
        BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(16), 2);
        body[20] = 0xC3;
        body[21] = 0x28;

        Assert.Throws<WalFormatException>(() => WalRecordCodec.DecodeBody(WalRecordType.HandlerFinished, body));
    }

    [Fact]
    public void WriteFrame_HeaderChecksumCoversLengthAndTypeAndTrailingChecksumCoversTheRest()
    {
        var frame = Encode(new WalDeadLetterRedrivenRecord { DeadLetterId = Guid.NewGuid() });

        Assert.Equal(16 + WalFormat.FrameOverhead, frame.Length);
        Assert.Equal(16, BinaryPrimitives.ReadInt32LittleEndian(frame));
        Assert.Equal((byte)WalRecordType.DeadLetterRedriven, frame[4]);
        Assert.Equal(WalFormat.Crc32C(frame.AsSpan(0, 5)), BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(5)));
        Assert.Equal(WalFormat.Crc32C(frame.AsSpan(0, frame.Length - 4)), BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(frame.Length - 4)));
    }

    private static byte[] Encode(WalRecord record)
    {
        var writer = new ArrayBufferWriter<byte>();
        WalRecordCodec.WriteFrame(record, writer);
        Assert.Equal(WalRecordCodec.GetFrameLength(record), writer.WrittenCount);
        return writer.WrittenSpan.ToArray();
    }

    private static WalRecord RoundTrip(WalRecord record)
    {
        var frame = Encode(record);
        var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(frame);
        var checksum = BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(WalFormat.FrameHeaderSize + bodyLength));
        Assert.Equal(WalFormat.Crc32C(frame.AsSpan(0, WalFormat.FrameHeaderSize + bodyLength)), checksum);
        return WalRecordCodec.DecodeBody((WalRecordType)frame[4], frame.AsSpan(WalFormat.FrameHeaderSize, bodyLength));
    }
}
