using System.Buffers.Binary;
using Busbar.Durability;

namespace Busbar.Tests.Durability;

/// <summary>Reads and writes segment bytes directly, in either format version, for tests that damage or build logs by hand.</summary>
internal static class WalTestFrames
{
    /// <summary>The valid frames of a segment, from its start up to the first frame that does not verify.</summary>
    public static List<Frame> Read(byte[] segment)
    {
        var frames = new List<Frame>();
        var version = segment.Length >= WalFormat.SegmentHeaderSize ? segment[5] : WalFormat.FormatVersion;
        var headerSize = version == WalFormat.FormatVersion1 ? 5 : WalFormat.FrameHeaderSize;
        var overhead = headerSize + 4;
        var offset = WalFormat.SegmentHeaderSize;
        while (segment.Length - offset >= overhead)
        {
            var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(segment.AsSpan(offset));
            if (bodyLength < 0 || bodyLength > segment.Length - offset - overhead)
                break;
            var length = bodyLength + overhead;
            var checksumFrom = version == WalFormat.FormatVersion1 ? 4 : 0;
            var stored = BinaryPrimitives.ReadUInt32LittleEndian(segment.AsSpan(offset + length - 4));
            if (WalFormat.Crc32C(segment.AsSpan(offset + checksumFrom, length - 4 - checksumFrom)) != stored)
                break;
            var type = (WalRecordType)segment[offset + 4];
            frames.Add(new Frame(offset, length, WalRecordCodec.DecodeBody(type, segment.AsSpan(offset + headerSize, bodyLength))));
            offset += length;
        }

        return frames;
    }

    /// <summary>A segment in the current format.</summary>
    public static byte[] Segment(long sequence, IEnumerable<WalRecord> records, List<Frame>? frames = null) =>
        Build(sequence, records, WalFormat.FormatVersion, frames);

    /// <summary>A segment in format version 1 (no header checksum), as logs written before version 2 are.</summary>
    public static byte[] SegmentVersion1(long sequence, IEnumerable<WalRecord> records, List<Frame>? frames = null) =>
        Build(sequence, records, WalFormat.FormatVersion1, frames);

    /// <summary>
    /// Replaces body bytes (and, optionally, the type) of a frame and recomputes its checksums, so garbage that
    /// verifies reaches the decoders.
    /// </summary>
    public static void Reframe(byte[] segment, Frame frame, Random random, bool changeType)
    {
        var version = segment[5];
        var headerSize = version == WalFormat.FormatVersion1 ? 5 : WalFormat.FrameHeaderSize;
        var bodyLength = frame.Length - headerSize - 4;
        if (changeType)
            segment[frame.Start + 4] = (byte)random.Next(256);
        for (var n = random.Next(1, 6); n > 0 && bodyLength > 0; n--)
            segment[frame.Start + headerSize + random.Next(bodyLength)] = (byte)random.Next(256);
        if (version != WalFormat.FormatVersion1)
            BinaryPrimitives.WriteUInt32LittleEndian(segment.AsSpan(frame.Start + 5), WalFormat.Crc32C(segment.AsSpan(frame.Start, 5)));
        var checksumFrom = version == WalFormat.FormatVersion1 ? 4 : 0;
        var checksum = WalFormat.Crc32C(segment.AsSpan(frame.Start + checksumFrom, frame.Length - 4 - checksumFrom));
        BinaryPrimitives.WriteUInt32LittleEndian(segment.AsSpan(frame.Start + frame.Length - 4), checksum);
    }

    private static byte[] Build(long sequence, IEnumerable<WalRecord> records, byte version, List<Frame>? frames)
    {
        var bytes = new List<byte>();
        var header = new byte[WalFormat.SegmentHeaderSize];
        WalFormat.WriteSegmentHeader(header, sequence);
        header[5] = version;
        bytes.AddRange(header);
        foreach (var record in records)
        {
            var frame = new byte[WalRecordCodec.GetFrameLength(record)];
            WalRecordCodec.WriteFrame(record, frame, frame.Length - WalFormat.FrameOverhead);
            if (version == WalFormat.FormatVersion1)
            {
                // Version 1: the same length, type and body, no header checksum, a checksum over type and body.
                var body = frame.AsSpan(WalFormat.FrameHeaderSize, frame.Length - WalFormat.FrameOverhead);
                var v1 = new byte[body.Length + WalFormat.FrameOverheadVersion1];
                frame.AsSpan(0, 5).CopyTo(v1);
                body.CopyTo(v1.AsSpan(5));
                BinaryPrimitives.WriteUInt32LittleEndian(v1.AsSpan(5 + body.Length), WalFormat.Crc32C(v1.AsSpan(4, 1 + body.Length)));
                frame = v1;
            }

            frames?.Add(new Frame(bytes.Count, frame.Length, record));
            bytes.AddRange(frame);
        }

        return [.. bytes];
    }

    internal sealed record Frame(int Start, int Length, WalRecord Record);
}
