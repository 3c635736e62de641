using System.Buffers.Binary;
using System.Text;

namespace Busbar.Durability;

/// <summary>Little-endian writer over a span sized in advance by <see cref="WalRecordCodec.GetBodyLength"/>.</summary>
internal ref struct WalSpanWriter
{
    private readonly Span<byte> _destination;
    private int _position;

    public WalSpanWriter(Span<byte> destination)
    {
        _destination = destination;
        _position = 0;
    }

    public readonly int Position => _position;

    public static int SizeOf(string value) => 4 + Encoding.UTF8.GetByteCount(value);

    public static int SizeOfNullable(string? value) => value is null ? 4 : SizeOf(value);

    public static int SizeOf(IReadOnlyList<string> values)
    {
        var size = 4;
        for (var i = 0; i < values.Count; i++)
        {
            size += SizeOf(values[i]);
        }

        return size;
    }

    public void WriteByte(byte value) => _destination[_position++] = value;

    public void WriteInt32(int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(_destination[_position..], value);
        _position += 4;
    }

    public void WriteInt64(long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(_destination[_position..], value);
        _position += 8;
    }

    public void WriteGuid(Guid value)
    {
        value.TryWriteBytes(_destination[_position..]);
        _position += 16;
    }

    public void WriteNullableGuid(Guid? value)
    {
        WriteByte(value.HasValue ? (byte)1 : (byte)0);
        if (value.HasValue)
        {
            WriteGuid(value.GetValueOrDefault());
        }
    }

    public void WriteTimestamp(DateTimeOffset value) => WriteInt64(value.UtcTicks);

    public void WriteNullableTimestamp(DateTimeOffset? value)
    {
        WriteByte(value.HasValue ? (byte)1 : (byte)0);
        if (value.HasValue)
        {
            WriteTimestamp(value.GetValueOrDefault());
        }
    }

    public void WriteString(string value)
    {
        var length = Encoding.UTF8.GetBytes(value, _destination[(_position + 4)..]);
        WriteInt32(length);
        _position += length;
    }

    /// <summary>A null string is written as length -1 so it round-trips distinct from the empty string.</summary>
    public void WriteNullableString(string? value)
    {
        if (value is null)
        {
            WriteInt32(-1);
        }
        else
        {
            WriteString(value);
        }
    }

    public void WriteStrings(IReadOnlyList<string> values)
    {
        WriteInt32(values.Count);
        for (var i = 0; i < values.Count; i++)
        {
            WriteString(values[i]);
        }
    }

    public void WriteBytes(ReadOnlySpan<byte> value)
    {
        WriteInt32(value.Length);
        value.CopyTo(_destination[_position..]);
        _position += value.Length;
    }
}
