using System.Buffers.Binary;
using Busbar.Dispatch;

namespace Busbar.Tests.Dispatch;

/// <summary>Event ids: UUIDv7 (RFC 9562) of the event's creation millisecond.</summary>
public class EventIdsTests
{
    [Fact]
    public void Create_AnyTimestamp_IsAVersion7UuidOfThatMillisecond()
    {
        var at = new DateTimeOffset(2026, 11, 30, 17, 20, 0, 123, TimeSpan.Zero);
        Span<byte> bytes = stackalloc byte[16];
        for (var i = 0; i < 1_000; i++)
        {
            var id = EventIds.Create(at);

            Assert.True(id.TryWriteBytes(bytes, bigEndian: true, out _));
            Assert.Equal((ulong)at.ToUnixTimeMilliseconds(), BinaryPrimitives.ReadUInt64BigEndian(bytes) >> 16);
            Assert.Equal(7, id.Version);
            Assert.Equal(0b10, bytes[8] >> 6);
        }
    }

    [Fact]
    public void Create_SameMillisecond_IdsDiffer()
    {
        var at = DateTimeOffset.UnixEpoch.AddDays(20_000);
        var ids = new HashSet<Guid>();
        for (var i = 0; i < 10_000; i++)
            Assert.True(ids.Add(EventIds.Create(at)));
    }

    [Fact]
    public void Create_LaterMillisecond_SortsLaterInTheBigEndianLayout()
    {
        var at = DateTimeOffset.UnixEpoch.AddDays(20_000);
        var earlier = EventIds.Create(at);
        var later = EventIds.Create(at.AddMilliseconds(1));

        Assert.True(earlier.CompareTo(later) < 0);
        Assert.Equal(at.ToUnixTimeMilliseconds(), (long)(BinaryPrimitives.ReadUInt64BigEndian(earlier.ToByteArray(bigEndian: true)) >> 16));
    }
}
