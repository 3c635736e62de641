using System.Buffers.Binary;
using System.Text;

namespace Busbar.Durability;

/// <summary>Little-endian reader that turns every out-of-range read into a <see cref="WalFormatException"/>.</summary>
internal ref struct WalSpanReader
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly ReadOnlySpan<byte> _source;
    private int _position;

    public WalSpanReader(ReadOnlySpan<byte> source)
    {
        _source = source;
        _position = 0;
    }

    public readonly int Remaining => _source.Length - _position;

    public byte ReadByte() => Take(1)[0];

    public int ReadInt32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

    public long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public Guid ReadGuid() => new(Take(16));

    public Guid? ReadNullableGuid() => ReadFlag() ? ReadGuid() : null;

    public DateTimeOffset ReadTimestamp()
    {
        var ticks = ReadInt64();
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            throw new WalFormatException($"Timestamp ticks {ticks} are out of range.");
        }

        return new DateTimeOffset(ticks, TimeSpan.Zero);
    }

    public DateTimeOffset? ReadNullableTimestamp() => ReadFlag() ? ReadTimestamp() : null;

    public string ReadString() => ReadNullableString() ?? throw new WalFormatException("A required string is null.");

    public string? ReadNullableString()
    {
        var length = ReadInt32();
        if (length == -1)
        {
            return null;
        }

        try
        {
            return s_strictUtf8.GetString(Take(length));
        }
        catch (DecoderFallbackException ex)
        {
            throw new WalFormatException("A string is not valid UTF-8.", ex);
        }
    }

    public string[] ReadStrings()
    {
        var count = ReadCount();
        var values = count == 0 ? [] : new string[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = ReadString();
        }

        return values;
    }

    /// <summary>Reads a non-negative count; each counted item takes at least four bytes, which bounds allocation by the body size.</summary>
    public int ReadCount()
    {
        var count = ReadInt32();
        if (count < 0 || count > Remaining / 4)
        {
            throw new WalFormatException($"Count {count} is out of range at offset {_position - 4}.");
        }

        return count;
    }

    public ReadOnlySpan<byte> ReadBytes() => Take(ReadInt32());

    public readonly void EnsureEnd()
    {
        if (Remaining != 0)
        {
            throw new WalFormatException($"{Remaining} unexpected trailing bytes in the record body.");
        }
    }

    private bool ReadFlag() => ReadByte() switch
    {
        0 => false,
        1 => true,
        var other => throw new WalFormatException($"Presence flag {other} is neither 0 nor 1."),
    };

    private ReadOnlySpan<byte> Take(int length)
    {
        if (length < 0 || length > Remaining)
        {
            throw new WalFormatException($"Field of {length} bytes at offset {_position} overruns the {_source.Length}-byte record body.");
        }

        var slice = _source.Slice(_position, length);
        _position += length;
        return slice;
    }
}
