using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Busbar.Durability;

/// <summary>
/// Reads every segment of a directory in order into a <see cref="WalState"/>, collecting problems instead of
/// throwing on corruption. With <c>repair</c> it truncates a torn tail; without, it reads only (for inspection).
/// </summary>
internal static class WalReplay
{
    public static WalReplayResult Run(string directory, WalState state, bool repair)
    {
        var files = new List<(long Sequence, string Path)>();
        foreach (var path in Directory.EnumerateFiles(directory, "*" + WalFormat.SegmentExtension))
        {
            if (WalFormat.TryParseSegmentFileName(Path.GetFileName(path), out var sequence))
            {
                files.Add((sequence, path));
            }
        }

        files.Sort(static (a, b) => a.Sequence.CompareTo(b.Sequence));
        var result = new WalReplayResult();
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            for (var i = 0; i < files.Count; i++)
            {
                result.MaxSequence = Math.Max(result.MaxSequence, files[i].Sequence);
                var segment = new WalSegment(directory, files[i].Sequence);
                if (ReadSegment(segment, isLast: i == files.Count - 1, state, repair, result.Problems, ref buffer))
                {
                    result.Segments.Add(segment);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        state.CompleteReplay(result.Problems);
        return result;
    }

    /// <returns>False when the segment is unusable (bad header) and must be left out of the live log.</returns>
    private static bool ReadSegment(WalSegment segment, bool isLast, WalState state, bool repair, List<WalProblem> problems, ref byte[] buffer)
    {
        long truncateAt = -1;
        var deleteFile = false;
        var usable = true;
        using (var handle = File.OpenHandle(segment.FilePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            var length = RandomAccess.GetLength(handle);
            segment.Size = length;
            Span<byte> header = stackalloc byte[WalFormat.SegmentHeaderSize];
            if (length < WalFormat.SegmentHeaderSize || !WalFormat.IsValidSegmentHeader(Read(handle, header, 0)))
            {
                if (isLast && length < WalFormat.SegmentHeaderSize)
                {
                    problems.Add(Problem(WalProblemKind.TornTail, segment.FileName, 0, length, WalRecoveryAction.DeleteSegment, $"The segment ends inside its {WalFormat.SegmentHeaderSize}-byte header ({length} bytes); the file was removed."));
                    deleteFile = true;
                }
                else
                {
                    problems.Add(Problem(WalProblemKind.InvalidSegmentHeader, segment.FileName, 0, length, WalRecoveryAction.Skip, "The segment header is not a Busbar write-ahead log header (magic \"BBWAL\", version 1); the segment was skipped and left on disk."));
                    usable = false;
                }
            }
            else
            {
                truncateAt = ReadRecords(handle, segment, length, isLast, state, problems, ref buffer);
            }
        }

        if (repair && deleteFile)
        {
            File.Delete(segment.FilePath);
        }
        else if (repair && truncateAt >= 0)
        {
            using var handle = File.OpenHandle(segment.FilePath, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
            RandomAccess.SetLength(handle, truncateAt);
            RandomAccess.FlushToDisk(handle);
            segment.Size = truncateAt;
        }

        return usable && !deleteFile;
    }

    /// <returns>The offset to truncate at when the last segment has a torn tail; otherwise -1.</returns>
    private static long ReadRecords(SafeFileHandle handle, WalSegment segment, long length, bool isLast, WalState state, List<WalProblem> problems, ref byte[] buffer)
    {
        long offset = WalFormat.SegmentHeaderSize;
        Span<byte> prefix = stackalloc byte[5];
        while (offset < length)
        {
            var remaining = length - offset;
            if (remaining < WalFormat.FrameOverhead)
            {
                return Tail(segment, offset, remaining, isLast, $"{remaining} bytes remain, fewer than a record's {WalFormat.FrameOverhead}-byte framing", problems);
            }

            Read(handle, prefix, offset);
            var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(prefix);
            if (bodyLength < 0 || bodyLength > WalFormat.MaxRecordSizeLimit - WalFormat.FrameOverhead)
            {
                return Tail(segment, offset, remaining, isLast, $"the record length field ({bodyLength}) is implausible", problems);
            }

            var frameLength = bodyLength + WalFormat.FrameOverhead;
            if (frameLength > remaining)
            {
                return Tail(segment, offset, remaining, isLast, $"the {frameLength}-byte record extends past the end of the file", problems);
            }

            var checkedLength = 1 + bodyLength;
            if (buffer.Length < checkedLength + 4)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = ArrayPool<byte>.Shared.Rent(checkedLength + 4);
            }

            var frame = Read(handle, buffer.AsSpan(0, checkedLength + 4), offset + 4);
            var stored = BinaryPrimitives.ReadUInt32LittleEndian(frame[checkedLength..]);
            if (WalFormat.Crc32C(frame[..checkedLength]) != stored)
            {
                if (isLast && !AnyValidFrameAfter(handle, offset + frameLength, length))
                {
                    return Tail(segment, offset, remaining, isLast, "the last record's checksum does not match", problems);
                }

                problems.Add(Problem(WalProblemKind.ChecksumMismatch, segment.FileName, offset, frameLength, WalRecoveryAction.Skip, $"The checksum of the {frameLength}-byte record at offset {offset} does not match; the record was skipped."));
                offset += frameLength;
                continue;
            }

            var type = (WalRecordType)frame[0];
            WalRecord record;
            try
            {
                record = WalRecordCodec.DecodeBody(type, frame[1..checkedLength]);
            }
            catch (WalFormatException ex)
            {
                problems.Add(Problem(WalProblemKind.MalformedRecord, segment.FileName, offset, frameLength, WalRecoveryAction.Skip, $"The {frameLength}-byte record at offset {offset} could not be decoded ({ex.Message}); the record was skipped."));
                offset += frameLength;
                continue;
            }

            segment.CountRecord(type);
            Apply(state, record, segment, frameLength);
            offset += frameLength;
        }

        return -1;
    }

    public static void Apply(WalState state, WalRecord record, WalSegment segment, int frameLength)
    {
        switch (record)
        {
            case WalEventRecord e:
                state.ApplyEvent(e, segment, frameLength);
                break;
            case WalHandlerFinishedRecord f:
                state.ApplyHandlerFinished(f.EventId, f.SubscriptionName);
                break;
            case WalDeadLetterRecord d:
                state.ApplyDeadLetter(d, segment, frameLength);
                break;
            case WalDeadLetterRedrivenRecord r:
                state.ApplyDeadLetterRedriven(r.DeadLetterId);
                break;
        }
    }

    private static long Tail(WalSegment segment, long offset, long bytes, bool isLast, string reason, List<WalProblem> problems)
    {
        if (isLast)
        {
            problems.Add(Problem(WalProblemKind.TornTail, segment.FileName, offset, bytes, WalRecoveryAction.Truncate, $"Torn tail at offset {offset}: {reason}; {bytes} bytes were truncated."));
            return offset;
        }

        problems.Add(Problem(WalProblemKind.CorruptSpan, segment.FileName, offset, bytes, WalRecoveryAction.Skip, $"Corrupt record at offset {offset}: {reason}; the remaining {bytes} bytes of the segment were skipped."));
        return -1;
    }

    /// <summary>Whether a checksum-valid frame follows: if so a bad record is mid-log corruption, not a torn write.</summary>
    private static bool AnyValidFrameAfter(SafeFileHandle handle, long offset, long length)
    {
        Span<byte> prefix = stackalloc byte[5];
        while (length - offset >= WalFormat.FrameOverhead)
        {
            Read(handle, prefix, offset);
            var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(prefix);
            if (bodyLength < 0 || bodyLength + WalFormat.FrameOverhead > length - offset)
            {
                return false;
            }

            var frame = ArrayPool<byte>.Shared.Rent(bodyLength + 5);
            try
            {
                var span = Read(handle, frame.AsSpan(0, bodyLength + 5), offset + 4);
                if (WalFormat.Crc32C(span[..(bodyLength + 1)]) == BinaryPrimitives.ReadUInt32LittleEndian(span[(bodyLength + 1)..]))
                {
                    return true;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(frame);
            }

            offset += bodyLength + WalFormat.FrameOverhead;
        }

        return false;
    }

    public static WalProblem Problem(WalProblemKind kind, string segment, long offset, long length, WalRecoveryAction action, string message) =>
        new() { Kind = kind, SegmentFileName = segment, Offset = offset, ByteCount = length, Action = action, Message = message };

    private static Span<byte> Read(SafeFileHandle handle, Span<byte> destination, long offset)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var read = RandomAccess.Read(handle, destination[total..], offset + total);
            if (read == 0)
            {
                throw new EndOfStreamException($"Unexpected end of file at offset {offset + total}.");
            }

            total += read;
        }

        return destination;
    }
}

/// <summary>Segments read by <see cref="WalReplay"/>, in order, and the problems found.</summary>
internal sealed class WalReplayResult
{
    public List<WalSegment> Segments { get; } = [];

    public List<WalProblem> Problems { get; } = [];

    /// <summary>The highest sequence of any segment file, readable or not, so new segments never collide.</summary>
    public long MaxSequence { get; set; }
}
