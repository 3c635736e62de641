using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Busbar.Durability;

/// <summary>
/// Reads every segment of a directory in order into a <see cref="WalLiveSet"/>, collecting problems instead of
/// throwing on corruption, then (when repairing) copies the bytes it cuts to side files and truncates a torn tail.
/// </summary>
/// <remarks>
/// <para>
/// A frame that does not verify (implausible length, past the end, checksum mismatch) costs only its own bytes:
/// the reader looks for the next offset that holds a verifying frame and resumes there. It first tries the offset
/// the damaged frame's own length points to (the common case: the body is damaged, the length is not), then scans
/// byte by byte. Only when no verifying frame follows is the damage a torn tail (last segment: truncated) or a
/// corrupt end of segment (earlier segments: skipped).
/// </para>
/// <para>
/// Every read is bounded by the file length in 64-bit arithmetic and every length field is checked before it sizes
/// a buffer, so no byte pattern can make replay throw or allocate more than one maximum-size record. The byte scan
/// checksums at most <see cref="ScanBudgetBytes"/> plus 16 bytes per segment byte before giving up on a segment.
/// </para>
/// </remarks>
internal static class WalReplay
{
    /// <summary>Fixed part of the checksum work a resync scan may do in one segment (see the type's remarks).</summary>
    private const long ScanBudgetBytes = 256L * 1024 * 1024;

    public static WalReplayResult Run(string directory, WalLiveSet liveSet, WalReplayMode mode)
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
        var plans = new List<SegmentPlan>();
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            for (var i = 0; i < files.Count; i++)
            {
                result.MaxSequence = Math.Max(result.MaxSequence, files[i].Sequence);
                var segment = new WalSegment(directory, files[i].Sequence);
                SegmentPlan plan;
                try
                {
                    plan = ReadSegment(segment, isLast: i == files.Count - 1, liveSet, result.Problems, ref buffer);
                }
                catch (FileNotFoundException) when (mode == WalReplayMode.Inspect)
                {
                    // A live bus compacted the segment away between listing and reading: nothing to report.
                    continue;
                }

                plans.Add(plan);
                if (plan.Usable)
                {
                    result.Segments.Add(segment);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        liveSet.CompleteReplay(result.Problems);
        if (mode == WalReplayMode.Strict && result.Problems.Exists(static p => p.Kind != WalProblemKind.TornTail))
        {
            throw new WalCorruptionException(
                string.Create(CultureInfo.InvariantCulture, $"The write-ahead log '{directory}' is damaged ({result.Problems.Count} problems, first: {result.Problems.Find(static p => p.Kind != WalProblemKind.TornTail)}); WriteAheadLogOptions.RecoveryMode is Strict, so nothing was modified."),
                result.Problems.ToArray());
        }

        if (mode != WalReplayMode.Inspect)
        {
            Repair(directory, plans, result.Problems);
        }

        return result;
    }

    public static void Apply(WalLiveSet liveSet, WalRecord record, WalSegment segment, int frameLength)
    {
        switch (record)
        {
            case WalEventRecord e:
                liveSet.ApplyEvent(e, segment, frameLength);
                break;
            case WalHandlerFinishedRecord f:
                liveSet.ApplyHandlerFinished(f.EventId, f.SubscriptionName);
                break;
            case WalDeadLetterRecord d:
                liveSet.ApplyDeadLetter(d, segment, frameLength);
                break;
            case WalDeadLetterRedrivenRecord r:
                liveSet.ApplyDeadLetterRedriven(r.DeadLetterId);
                break;
        }
    }

    public static WalProblem Problem(WalProblemKind kind, string segment, long offset, long length, WalRecoveryAction action, string message) =>
        new() { Kind = kind, SegmentFileName = segment, Offset = offset, ByteCount = length, Action = action, Message = message };

    /// <summary>The side file that keeps the bytes recovery cuts at <paramref name="offset"/> of a segment.</summary>
    public static string DamagedBytesFileName(string segmentFileName, long offset) =>
        string.Create(CultureInfo.InvariantCulture, $"{segmentFileName}.{offset}.damaged");

    private static SegmentPlan ReadSegment(WalSegment segment, bool isLast, WalLiveSet liveSet, List<WalProblem> problems, ref byte[] buffer)
    {
        var plan = new SegmentPlan(segment);
        using var handle = File.OpenHandle(segment.FilePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var length = RandomAccess.GetLength(handle);
        segment.Size = length;
        if (length < WalFormat.SegmentHeaderSize)
        {
            if (isLast)
            {
                plan.Cut(problems, Problem(WalProblemKind.TornTail, segment.FileName, 0, length, WalRecoveryAction.DeleteSegment, Invariant($"The segment ends inside its {WalFormat.SegmentHeaderSize}-byte header ({length} bytes), so it holds no record; the file is deleted.")));
                plan.Delete = true;
            }
            else
            {
                plan.Cut(problems, Problem(WalProblemKind.InvalidSegmentHeader, segment.FileName, 0, length, WalRecoveryAction.Skip, Invariant($"The segment is shorter ({length} bytes) than its {WalFormat.SegmentHeaderSize}-byte header; it is skipped and left on disk.")));
                plan.Usable = false;
            }

            return plan;
        }

        Span<byte> header = stackalloc byte[WalFormat.SegmentHeaderSize];
        Read(handle, header, 0);
        FrameLayout layout;
        if (WalFormat.TryReadSegmentHeader(header, out var version))
        {
            layout = version == WalFormat.FormatVersion1 ? FrameLayout.Version1 : FrameLayout.Version2;
        }
        else
        {
            // A damaged header costs the header only when records (of either version) verify right after it;
            // otherwise the file is not (or no longer) a log segment and is left alone.
            if (FrameAt(handle, WalFormat.SegmentHeaderSize, length, FrameLayout.Version2, ref buffer, out _) == FrameStatus.Valid)
            {
                layout = FrameLayout.Version2;
            }
            else if (FrameAt(handle, WalFormat.SegmentHeaderSize, length, FrameLayout.Version1, ref buffer, out _) == FrameStatus.Valid)
            {
                layout = FrameLayout.Version1;
            }
            else
            {
                plan.Cut(problems, Problem(WalProblemKind.InvalidSegmentHeader, segment.FileName, 0, length, WalRecoveryAction.Skip, "The segment header is not a Busbar write-ahead log header (magic \"BBWAL\", version 1 or 2) and no record verifies after it; the segment is skipped and left on disk."));
                plan.Usable = false;
                return plan;
            }

            plan.Cut(problems, Problem(WalProblemKind.InvalidSegmentHeader, segment.FileName, 0, WalFormat.SegmentHeaderSize, WalRecoveryAction.Skip, Invariant($"The segment header is damaged (expected magic \"BBWAL\", version 1 or 2) but version {layout.Version} records verify after it; the header is ignored and the records are recovered.")));
        }

        ReadRecords(handle, plan, length, layout, isLast, liveSet, problems, ref buffer);
        return plan;
    }

    private static void ReadRecords(SafeFileHandle handle, SegmentPlan plan, long length, FrameLayout layout, bool isLast, WalLiveSet liveSet, List<WalProblem> problems, ref byte[] buffer)
    {
        var segment = plan.Segment;
        var scanBudget = ScanBudgetBytes + (16 * length);
        long offset = WalFormat.SegmentHeaderSize;
        while (offset < length)
        {
            var status = FrameAt(handle, offset, length, layout, ref buffer, out var bodyLength);
            if (status != FrameStatus.Valid)
            {
                // The frame length the length field claims, where that is plausible (even if unverified).
                var declared = (status is FrameStatus.ChecksumMismatch or FrameStatus.HeaderMismatch) && IsPlausible(bodyLength, length - offset, layout)
                    ? bodyLength + layout.Overhead
                    : -1;
                long next;
                if (status == FrameStatus.ChecksumMismatch && layout.HasHeaderChecksum)
                {
                    // Version 2: the header checksum vouches for the length, so exactly this record is damaged,
                    // unless no valid record follows at all (then it is a torn tail from here).
                    var end = offset + declared;
                    next = end < length && (FrameAt(handle, end, length, layout, ref buffer, out _) == FrameStatus.Valid
                        || FindNextFrame(handle, end, length, layout, ref buffer, ref scanBudget) >= 0) ? end : -1;
                }
                else if (declared > 0 && offset + declared < length && FrameAt(handle, offset + declared, length, layout, ref buffer, out _) == FrameStatus.Valid)
                {
                    next = offset + declared;
                }
                else
                {
                    next = FindNextFrame(handle, offset + 1, length, layout, ref buffer, ref scanBudget);
                }

                if (next < 0)
                {
                    var rest = length - offset;
                    if (isLast)
                    {
                        plan.Cut(problems, Problem(WalProblemKind.TornTail, segment.FileName, offset, rest, WalRecoveryAction.Truncate, Invariant($"Torn tail at offset {offset}: {Describe(status, declared)} and no valid record follows; the last {rest} bytes are truncated.")));
                        plan.TruncateAt = offset;
                    }
                    else
                    {
                        plan.Cut(problems, Problem(WalProblemKind.CorruptSpan, segment.FileName, offset, rest, WalRecoveryAction.Skip, Invariant($"Corrupt data at offset {offset}: {Describe(status, declared)} and no valid record follows in this segment; the remaining {rest} bytes are skipped.")));
                    }

                    return;
                }

                var span = next - offset;
                var kind = next == offset + declared ? WalProblemKind.ChecksumMismatch : WalProblemKind.CorruptSpan;
                plan.Cut(problems, Problem(kind, segment.FileName, offset, span, WalRecoveryAction.Skip, Invariant($"Damaged data at offset {offset}: {Describe(status, declared)}; {span} bytes are skipped and recovery resumes at offset {next}.")));
                offset = next;
                continue;
            }

            var frameLength = bodyLength + layout.Overhead;
            var type = (WalRecordType)buffer[4];
            WalRecord record;
            try
            {
                record = WalRecordCodec.DecodeBody(type, buffer.AsSpan(layout.HeaderSize, bodyLength));
            }
            catch (Exception ex)
            {
                plan.Cut(problems, Problem(WalProblemKind.MalformedRecord, segment.FileName, offset, frameLength, WalRecoveryAction.Skip, Invariant($"The {frameLength}-byte record at offset {offset} verifies but could not be decoded ({ex.Message}); it is skipped.")));
                offset += frameLength;
                continue;
            }

            segment.CountRecord(type);
            Apply(liveSet, record, segment, frameLength);
            offset += frameLength;
        }
    }

    private static string Describe(FrameStatus status, long declared) => status switch
    {
        FrameStatus.ChecksumMismatch => Invariant($"the {declared}-byte record's checksum does not match"),
        FrameStatus.HeaderMismatch => "the record's header checksum (over its length and type) does not match",
        FrameStatus.PastEnd => "the record's length field points past the end of the file",
        FrameStatus.ImplausibleLength => "the record's length field is implausible",
        _ => "fewer bytes remain than a record's framing",
    };

    /// <summary>
    /// Checks the frame at <paramref name="offset"/>; when valid, <paramref name="buffer"/> holds the whole frame.
    /// <paramref name="bodyLength"/> is the raw length field whenever at least a frame header remains.
    /// </summary>
    private static FrameStatus FrameAt(SafeFileHandle handle, long offset, long length, FrameLayout layout, ref byte[] buffer, out int bodyLength)
    {
        bodyLength = 0;
        var remaining = length - offset;
        if (remaining < layout.Overhead)
        {
            return FrameStatus.TooShort;
        }

        Span<byte> header = stackalloc byte[WalFormat.FrameHeaderSize];
        header = Read(handle, header[..layout.HeaderSize], offset);
        bodyLength = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (layout.HasHeaderChecksum && WalFormat.Crc32C(header[..5]) != BinaryPrimitives.ReadUInt32LittleEndian(header[5..]))
        {
            return FrameStatus.HeaderMismatch;
        }

        if (bodyLength < 0 || bodyLength > WalFormat.MaxRecordSizeLimit - layout.Overhead)
        {
            return FrameStatus.ImplausibleLength;
        }

        if ((long)bodyLength + layout.Overhead > remaining)
        {
            return FrameStatus.PastEnd;
        }

        return ChecksumMatches(handle, offset, bodyLength, layout, ref buffer) ? FrameStatus.Valid : FrameStatus.ChecksumMismatch;
    }

    private static bool IsPlausible(int bodyLength, long remaining, FrameLayout layout) =>
        bodyLength >= 0 && bodyLength <= WalFormat.MaxRecordSizeLimit - layout.Overhead && (long)bodyLength + layout.Overhead <= remaining;

    /// <summary>Reads the whole frame into <paramref name="buffer"/> and verifies its trailing checksum.</summary>
    private static bool ChecksumMatches(SafeFileHandle handle, long offset, int bodyLength, FrameLayout layout, ref byte[] buffer)
    {
        var frameLength = bodyLength + layout.Overhead;
        if (buffer.Length < frameLength)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = ArrayPool<byte>.Shared.Rent(frameLength);
        }

        var frame = Read(handle, buffer.AsSpan(0, frameLength), offset);
        var checksummed = frame[layout.ChecksumFrom..(frameLength - 4)];
        return WalFormat.Crc32C(checksummed) == BinaryPrimitives.ReadUInt32LittleEndian(frame[(frameLength - 4)..]);
    }

    /// <summary>
    /// The first offset at or after <paramref name="from"/> holding a frame of a known type that verifies, or -1.
    /// Length, type and (version 2) the header checksum are checked from a read-ahead window, so only rare
    /// candidates cost a read and a full checksum.
    /// </summary>
    private static long FindNextFrame(SafeFileHandle handle, long from, long length, FrameLayout layout, ref byte[] buffer, ref long budget)
    {
        var window = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long windowStart = 0;
            var windowLength = 0;
            for (var candidate = from; length - candidate >= layout.Overhead; candidate++)
            {
                if (candidate + layout.HeaderSize > windowStart + windowLength)
                {
                    windowStart = candidate;
                    windowLength = (int)Math.Min(window.Length, length - candidate);
                    Read(handle, window.AsSpan(0, windowLength), windowStart);
                }

                var at = (int)(candidate - windowStart);
                var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(window.AsSpan(at, 4));
                var type = window[at + 4];
                if (!IsPlausible(bodyLength, length - candidate, layout)
                    || type < (byte)WalRecordType.EventAppended
                    || type > (byte)WalRecordType.DeadLetterRedriven
                    || (layout.HasHeaderChecksum && WalFormat.Crc32C(window.AsSpan(at, 5)) != BinaryPrimitives.ReadUInt32LittleEndian(window.AsSpan(at + 5, 4))))
                {
                    continue;
                }

                budget -= layout.Overhead + bodyLength;
                if (budget < 0)
                {
                    return -1;
                }

                if (ChecksumMatches(handle, candidate, bodyLength, layout, ref buffer))
                {
                    return candidate;
                }
            }

            return -1;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(window);
        }
    }

    /// <summary>Copies every span about to be cut to its side file, then truncates torn tails and deletes empty segments.</summary>
    private static void Repair(string directory, List<SegmentPlan> plans, List<WalProblem> problems)
    {
        var copied = false;
        foreach (var plan in plans)
        {
            if (plan.Cuts.Count == 0)
            {
                continue;
            }

            using var source = File.OpenHandle(plan.Segment.FilePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            foreach (var index in plan.Cuts)
            {
                var problem = problems[index];
                var path = Path.Combine(directory, DamagedBytesFileName(problem.SegmentFileName, problem.Offset));
                if (!File.Exists(path) || new FileInfo(path).Length != problem.ByteCount)
                {
                    CopyRange(source, problem.Offset, problem.ByteCount, path);
                    copied = true;
                }

                problems[index] = problem with { DamagedBytesFile = path };
            }
        }

        if (copied)
        {
            DirectorySync.Flush(directory);
        }

        var removed = false;
        foreach (var plan in plans)
        {
            if (plan.Delete)
            {
                File.Delete(plan.Segment.FilePath);
                removed = true;
            }
            else if (plan.TruncateAt >= 0)
            {
                using var handle = File.OpenHandle(plan.Segment.FilePath, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
                RandomAccess.SetLength(handle, plan.TruncateAt);
                RandomAccess.FlushToDisk(handle);
                plan.Segment.Size = plan.TruncateAt;
            }
        }

        if (removed)
        {
            DirectorySync.Flush(directory);
        }
    }

    private static void CopyRange(SafeFileHandle source, long offset, long count, string path)
    {
        var chunk = ArrayPool<byte>.Shared.Rent((int)Math.Min(count, 1024 * 1024) + 1);
        try
        {
            using var target = File.OpenHandle(path, FileMode.Create, FileAccess.Write, FileShare.None);
            long done = 0;
            while (done < count)
            {
                var part = (int)Math.Min(chunk.Length, count - done);
                Read(source, chunk.AsSpan(0, part), offset + done);
                RandomAccess.Write(target, chunk.AsSpan(0, part), done);
                done += part;
            }

            RandomAccess.FlushToDisk(target);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private static Span<byte> Read(SafeFileHandle handle, Span<byte> destination, long offset)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var read = RandomAccess.Read(handle, destination[total..], offset + total);
            if (read == 0)
            {
                throw new EndOfStreamException(Invariant($"Unexpected end of file at offset {offset + total}: the segment shrank while it was read."));
            }

            total += read;
        }

        return destination;
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);

    private enum FrameStatus
    {
        Valid,
        TooShort,
        HeaderMismatch,
        ImplausibleLength,
        PastEnd,
        ChecksumMismatch,
    }

    /// <summary>Where a frame's parts are in one format version.</summary>
    private readonly record struct FrameLayout(byte Version, int HeaderSize, int Overhead, int ChecksumFrom)
    {
        /// <summary>Length, type, body, checksum over type and body.</summary>
        public static readonly FrameLayout Version1 = new(WalFormat.FormatVersion1, 5, WalFormat.FrameOverheadVersion1, 4);

        /// <summary>Length, type, header checksum, body, checksum over everything before it.</summary>
        public static readonly FrameLayout Version2 = new(WalFormat.FormatVersion, WalFormat.FrameHeaderSize, WalFormat.FrameOverhead, 0);

        public bool HasHeaderChecksum => Version >= WalFormat.FormatVersion;
    }

    /// <summary>What repair will do to one segment: spans to copy aside (by problem index), a truncation, a deletion.</summary>
    private sealed class SegmentPlan(WalSegment segment)
    {
        public WalSegment Segment { get; } = segment;

        public List<int> Cuts { get; } = [];

        public long TruncateAt { get; set; } = -1;

        public bool Delete { get; set; }

        public bool Usable { get; set; } = true;

        public void Cut(List<WalProblem> problems, WalProblem problem)
        {
            Cuts.Add(problems.Count);
            problems.Add(problem);
        }
    }
}

/// <summary>How <see cref="WalReplay.Run"/> treats what it finds.</summary>
internal enum WalReplayMode
{
    /// <summary>Read only: report problems with the action a repair would take.</summary>
    Inspect,

    /// <summary>Copy damaged bytes aside, truncate a torn tail, delete a segment that ends inside its header.</summary>
    Repair,

    /// <summary>Throw <see cref="WalCorruptionException"/> before modifying anything if there is damage other than a torn tail; otherwise repair.</summary>
    Strict,
}

/// <summary>Segments read by <see cref="WalReplay"/>, in order, and the problems found.</summary>
internal sealed class WalReplayResult
{
    public List<WalSegment> Segments { get; } = [];

    public List<WalProblem> Problems { get; } = [];

    /// <summary>The highest sequence of any segment file, readable or not, so new segments never collide.</summary>
    public long MaxSequence { get; set; }
}
