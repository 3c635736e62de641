using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;

namespace Busbar.Durability;

/// <summary>On-disk constants of the write-ahead log and the checksum that protects every record.</summary>
internal static class WalFormat
{
    public const string LockFileName = "busbar.lock";

    public const string SegmentExtension = ".wal";

    /// <summary>The version new segments are written in.</summary>
    public const byte FormatVersion = 2;

    /// <summary>The first format, without a header checksum; its segments are still read.</summary>
    public const byte FormatVersion1 = 1;

    /// <summary>Segment header: "BBWAL", version, two reserved bytes, the segment sequence (int64).</summary>
    public const int SegmentHeaderSize = 16;

    /// <summary>
    /// Frame (version 2): int32 body length, type byte, uint32 CRC32C over length and type (the header checksum),
    /// body, uint32 CRC32C over everything before it.
    /// </summary>
    public const int FrameOverhead = FrameHeaderSize + 4;

    /// <summary>Length, type and header checksum of a version 2 frame.</summary>
    public const int FrameHeaderSize = 4 + 1 + 4;

    /// <summary>Frame (version 1): int32 body length, type byte, body, uint32 CRC32C over type and body.</summary>
    public const int FrameOverheadVersion1 = 4 + 1 + 4;

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

    public static bool IsValidSegmentHeader(ReadOnlySpan<byte> header) => TryReadSegmentHeader(header, out _);

    /// <summary>Whether <paramref name="header"/> is a segment header of a version this build reads (1 or 2).</summary>
    public static bool TryReadSegmentHeader(ReadOnlySpan<byte> header, out byte version)
    {
        version = header.Length >= SegmentHeaderSize ? header[5] : (byte)0;
        return header.Length >= SegmentHeaderSize && header[..5].SequenceEqual(Magic) && version is FormatVersion1 or FormatVersion;
    }

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
