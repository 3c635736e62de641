using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;

namespace Busbar.Durability;

/// <summary>On-disk constants of the write-ahead log and the checksum that protects every record.</summary>
internal static class WalFormat
{
    public const string LockFileName = "busbar.lock";

    public const string SegmentExtension = ".wal";

    public const byte FormatVersion = 1;

    /// <summary>Segment header: "BBWAL", version, two reserved bytes, the segment sequence (int64).</summary>
    public const int SegmentHeaderSize = 16;

    /// <summary>Frame: int32 body length, type byte, body, uint32 CRC32C over type and body.</summary>
    public const int FrameOverhead = 4 + 1 + 4;

    /// <summary>
    /// Hard ceiling on a frame; readers treat a larger length field as corruption without needing the writer's options.
    /// </summary>
    public const int MaxRecordSizeLimit = 256 * 1024 * 1024;

    public static ReadOnlySpan<byte> Magic => "BBWAL"u8;

    public static string SegmentFileName(long sequence) =>
        sequence.ToString("D16", CultureInfo.InvariantCulture) + SegmentExtension;

    public static bool TryParseSegmentFileName(string fileName, out long sequence)
    {
        sequence = 0;
        return fileName.Length == 16 + SegmentExtension.Length
            && fileName.EndsWith(SegmentExtension, StringComparison.Ordinal)
            && long.TryParse(fileName.AsSpan(0, 16), NumberStyles.None, CultureInfo.InvariantCulture, out sequence);
    }

    public static void WriteSegmentHeader(Span<byte> destination, long sequence)
    {
        Magic.CopyTo(destination);
        destination[5] = FormatVersion;
        destination[6] = 0;
        destination[7] = 0;
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], sequence);
    }

    public static bool IsValidSegmentHeader(ReadOnlySpan<byte> header) =>
        header.Length >= SegmentHeaderSize && header[..5].SequenceEqual(Magic) && header[5] == FormatVersion;

    /// <summary>CRC-32C (Castagnoli); <see cref="BitOperations.Crc32C(uint, ulong)"/> uses the CPU instruction where present.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return ~crc;
    }
}
