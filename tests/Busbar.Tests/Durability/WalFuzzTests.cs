using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Busbar.Durability;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Busbar.Tests.Durability;

/// <summary>
/// Mutates a small two-segment log thousands of ways (truncations, bit flips, random bytes, huge and negative
/// lengths, zero pages, records re-framed with a valid checksum over garbage, whole files replaced) and checks
/// that inspection, a repairing open and a strict open never throw anything but the strict mode's
/// <see cref="WalCorruptionException"/>, that damage confined to one record costs only that record, and that a
/// repaired log reopens to the same state.
/// </summary>
/// <remarks>
/// The seed is fixed and printed. Longer runs: <c>BUSBAR_WAL_FUZZ_SEED</c> and <c>BUSBAR_WAL_FUZZ_ITERATIONS</c>
/// (see docs/durability.md for the figures of a long run).
/// </remarks>
public sealed class WalFuzzTests(ITestOutputHelper output)
{
    private const int DefaultSeed = 20261130;
    private const int DefaultIterations = 3000;
    private static readonly WriteAheadLogOptions s_repair = new() { FlushMode = WalFlushMode.None };
    private static readonly WriteAheadLogOptions s_strict = s_repair with { RecoveryMode = WalRecoveryMode.Strict };

    [Fact]
    public void Open_MutatedLogs_NeverThrowAndLoseOnlyDamagedRecords()
    {
        var seed = EnvInt("BUSBAR_WAL_FUZZ_SEED") ?? DefaultSeed;
        var iterations = EnvInt("BUSBAR_WAL_FUZZ_ITERATIONS") ?? DefaultIterations;
        output.WriteLine($"WAL fuzz: seed {seed}, {iterations} mutated logs (BUSBAR_WAL_FUZZ_SEED / BUSBAR_WAL_FUZZ_ITERATIONS to change)");
        // Bounded by count and by time: on a starved machine the run stops early (and says so) rather than failing.
        var timeLimit = TimeSpan.FromSeconds(Math.Max(60, iterations / 20));
        var random = new Random(seed);
        // Most logs are in the current format; every fourth is a version 1 log, as written before version 2.
        var baseLogs = new[] { BaseLog.Create(random, WalFormat.FormatVersion), BaseLog.Create(random, WalFormat.FormatVersion1) };
        // tmpfs where there is one: the fuzz checks the reader's logic, and fsyncs on a loaded disk would dominate.
        var root = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), "busbar-wal-fuzz-" + Guid.NewGuid().ToString("N"));
        var stopwatch = Stopwatch.StartNew();
        var counts = new int[Enum.GetValues<Mutation>().Length];
        var problems = 0L;
        var done = 0;
        var strictRefusals = 0;
        try
        {
            for (var i = 0; i < iterations; i++)
            {
                if (stopwatch.Elapsed > timeLimit)
                {
                    output.WriteLine($"time limit {timeLimit} reached after {i} of {iterations} logs");
                    break;
                }

                var directory = Path.Combine(root, i.ToString(CultureInfo.InvariantCulture));
                Directory.CreateDirectory(directory);
                var baseLog = baseLogs[i % 4 == 3 ? 1 : 0];
                var files = baseLog.Segments.Select(s => s.ToArray()).ToArray();
                var mutation = (Mutation)random.Next(counts.Length);
                counts[(int)mutation]++;
                var damaged = Mutate(random, baseLog, files, mutation);
                for (var f = 0; f < files.Length; f++)
                    File.WriteAllBytes(Path.Combine(directory, WalFormat.SegmentFileName(f + 1)), files[f]);

                try
                {
                    problems += Check(baseLog, directory, damaged);
                    strictRefusals += CheckStrict(directory) ? 1 : 0;
                }
                catch (Exception ex)
                {
                    Assert.Fail($"Seed {seed}, log {i}, mutation {mutation}: {ex}");
                }

                Directory.Delete(directory, recursive: true);
                done++;
            }
        }
        finally
        {
            if (Directory.Exists(root))
                Directory.Delete(root, recursive: true);
        }

        Assert.True(done > 0);
        output.WriteLine($"{done} logs in {stopwatch.Elapsed.TotalSeconds:F1} s, {problems} problems reported, {strictRefusals} refused by a strict open");
        output.WriteLine(string.Join(", ", Enum.GetValues<Mutation>().Select(m => $"{m} {counts[(int)m]}")));
    }

    /// <summary>Inspects, opens (repairing) and reopens; returns the number of problems the first open reported.</summary>
    private static int Check(BaseLog baseLog, string directory, int? damagedRecord)
    {
        var inspection = WriteAheadLog.Inspect(directory);
        HashSet<Guid> recovered;
        int problemCount;
        List<WalProblem> skipped;
        bool deletedSegment;
        using (var log = Open(directory, s_repair))
        {
            deletedSegment = log.Recovery.Problems.Any(p => p.Action == WalRecoveryAction.DeleteSegment);
            recovered = log.Recovery.UnfinishedEvents.Select(p => p.Event.EventId).ToHashSet();
            problemCount = log.Recovery.Problems.Count;
            skipped = log.Recovery.Problems.Where(p => p.Action == WalRecoveryAction.Skip).ToList();
            Assert.Equal(inspection.UnfinishedEvents.Select(p => p.Event.EventId).ToHashSet(), recovered);
            Assert.All(log.Recovery.Problems.Where(p => p.Action != WalRecoveryAction.Drop), p => Assert.True(File.Exists(p.DamagedBytesFile), $"no side file for {p}"));
        }

        if (damagedRecord is { } index)
        {
            // Damage inside one record costs at most that record: every other unfinished event survives.
            var expected = baseLog.Unfinished.Where(id => baseLog.Records[index].EventId != id).ToHashSet();
            Assert.Subset(recovered, expected);
        }

        // A repaired log opens again to the same state, with nothing left to truncate (unless deleting a segment
        // that ended inside its header made an earlier segment the last one, whose corrupt end is then a torn tail).
        using (var again = Open(directory, s_repair))
        {
            Assert.Equal(recovered, again.Recovery.UnfinishedEvents.Select(p => p.Event.EventId).ToHashSet());
            if (deletedSegment)
                return problemCount;
            Assert.All(again.Recovery.Problems, p => Assert.True(p.Action is WalRecoveryAction.Skip or WalRecoveryAction.Drop, $"second open still repairs: {p}"));
            // Compaction may have deleted a segment whose records were all lost, so skips can only disappear.
            Assert.Subset(skipped.Select(p => (p.SegmentFileName, p.Offset)).ToHashSet(), again.Recovery.Problems.Where(p => p.Action == WalRecoveryAction.Skip).Select(p => (p.SegmentFileName, p.Offset)).ToHashSet());
        }

        return problemCount;
    }

    /// <summary>A strict open either succeeds or refuses with the problems; true when it refused.</summary>
    private static bool CheckStrict(string directory)
    {
        try
        {
            using var log = Open(directory, s_strict);
            Assert.All(log.Recovery.Problems, p => Assert.Equal(WalProblemKind.TornTail, p.Kind));
            return false;
        }
        catch (WalCorruptionException ex)
        {
            Assert.Contains(ex.Problems, p => p.Kind != WalProblemKind.TornTail);
            return true;
        }
    }

    private static SyncLog Open(string directory, WriteAheadLogOptions options) =>
        new(WriteAheadLog.Open(directory, options, TimeProvider.System, NullLogger.Instance));

    /// <summary>Applies one mutation; returns the index of the one record it damaged when the damage stays inside one record.</summary>
    private static int? Mutate(Random random, BaseLog baseLog, byte[][] files, Mutation mutation)
    {
        var f = random.Next(files.Length);
        var bytes = files[f];
        var resized = bytes.Length != baseLog.Segments[f].Length;
        if ((bytes.Length < WalFormat.SegmentHeaderSize && mutation is not (Mutation.AppendGarbage or Mutation.ReplaceFile or Mutation.Several))
            || (resized && mutation is Mutation.FlipBitsInOneRecord or Mutation.LengthField or Mutation.ReframeWithValidChecksum))
        {
            // An earlier mutation of a combined run shortened or replaced the file: record positions no longer hold.
            return null;
        }

        switch (mutation)
        {
            case Mutation.Truncate:
                files[f] = bytes.AsSpan(0, random.Next(bytes.Length + 1)).ToArray();
                return null;
            case Mutation.FlipBits:
                for (var n = random.Next(1, 9); n > 0; n--)
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return null;
            case Mutation.FlipBitsInOneRecord:
                {
                    var r = baseLog.RecordIn(random, f);
                    var (start, length) = baseLog.Frames[r];
                    for (var n = random.Next(1, 4); n > 0; n--)
                        bytes[start + random.Next(length)] ^= (byte)(1 << random.Next(8));
                    return r;
                }

            case Mutation.LengthField:
                {
                    var r = baseLog.RecordIn(random, f);
                    var start = baseLog.Frames[r].Start;
                    var current = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(start));
                    int[] choices = [int.MaxValue, int.MaxValue - random.Next(16), int.MinValue, -1, random.Next(), -random.Next(), current + random.Next(1, 64), current - random.Next(1, 9), 0];
                    BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(start), choices[random.Next(choices.Length)]);
                    return r;
                }

            case Mutation.RandomBytes:
                {
                    var start = random.Next(bytes.Length);
                    random.NextBytes(bytes.AsSpan(start, Math.Min(bytes.Length - start, random.Next(1, 600))));
                    return null;
                }

            case Mutation.ZeroPage:
                {
                    const int Page = 512;
                    var start = random.Next(bytes.Length / Page + 1) * Page;
                    bytes.AsSpan(start, Math.Min(Page * random.Next(1, 3), bytes.Length - start)).Clear();
                    return null;
                }

            case Mutation.AppendGarbage:
                {
                    var extra = new byte[random.Next(1, 3000)];
                    if (random.Next(2) == 0)
                        random.NextBytes(extra);
                    files[f] = [.. bytes, .. extra];
                    return null;
                }

            case Mutation.ReframeWithValidChecksum:
                {
                    // Garbage that passes the checksums reaches the decoders.
                    var r = baseLog.RecordIn(random, f);
                    var (start, length) = baseLog.Frames[r];
                    WalTestFrames.Reframe(bytes, new WalTestFrames.Frame(start, length, baseLog.Records[r].Record), random, changeType: random.Next(3) == 0);
                    return null;
                }

            case Mutation.ReplaceFile:
                {
                    var garbage = new byte[random.Next(0, 5000)];
                    random.NextBytes(garbage);
                    if (garbage.Length >= WalFormat.SegmentHeaderSize && random.Next(2) == 0)
                        WalFormat.WriteSegmentHeader(garbage, f + 1);
                    files[f] = garbage;
                    return null;
                }

            case Mutation.SegmentHeader:
                bytes[random.Next(WalFormat.SegmentHeaderSize)] ^= (byte)(1 << random.Next(8));
                return null;
            default:
                for (var n = random.Next(2, 5); n > 0; n--)
                    Mutate(random, baseLog, files, (Mutation)random.Next((int)Mutation.Several));
                return null;
        }
    }

    private static int? EnvInt(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

    private enum Mutation
    {
        Truncate,
        FlipBits,
        FlipBitsInOneRecord,
        LengthField,
        RandomBytes,
        ZeroPage,
        AppendGarbage,
        ReframeWithValidChecksum,
        ReplaceFile,
        SegmentHeader,
        Several,
    }

    /// <summary>Opens and disposes a log synchronously, for the tight fuzz loop.</summary>
    private sealed class SyncLog(WriteAheadLog log) : IDisposable
    {
        public WalRecoveryResult Recovery => log.Recovery;

        public void Dispose() => log.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>
    /// Two segments of events, finishes, a dead letter and a re-drive, encoded directly; which records each file
    /// holds, where, and which events are unfinished.
    /// </summary>
    private sealed class BaseLog
    {
        public List<byte[]> Segments { get; } = [];

        public List<(WalRecord Record, Guid EventId)> Records { get; } = [];

        public List<(int Start, int Length)> Frames { get; } = [];

        public List<int> FileOf { get; } = [];

        public HashSet<Guid> Unfinished { get; } = [];

        public int RecordIn(Random random, int file)
        {
            var candidates = Enumerable.Range(0, Records.Count).Where(i => FileOf[i] == file).ToList();
            return candidates[random.Next(candidates.Count)];
        }

        public static BaseLog Create(Random random, byte version)
        {
            var log = new BaseLog();
            var events = Enumerable.Range(0, 24).Select(i => WalTestRecords.Event(subscriptions: ["billing", "shipping"], payloadBytes: 40 + random.Next(300))).ToList();
            var segmentRecords = new List<WalRecord>[] { [], [] };
            for (var i = 0; i < events.Count; i++)
            {
                var segment = segmentRecords[i < 12 ? 0 : 1];
                segment.Add(events[i]);
                if (i % 3 == 0)
                    segment.Add(Finished(events[i].EventId, "billing"));
                if (i % 4 == 0)
                    segment.Add(Finished(events[i].EventId, "shipping"));
            }

            var deadLetter = WalTestRecords.DeadLetter(events[5].EventId, "shipping");
            segmentRecords[1].Add(deadLetter);
            var redriven = WalTestRecords.DeadLetter(events[13].EventId, "shipping");
            segmentRecords[1].Add(redriven);
            segmentRecords[1].Add(new WalDeadLetterRedrivenRecord { DeadLetterId = redriven.DeadLetterId });

            var state = new WalLiveSet();
            for (var s = 0; s < segmentRecords.Length; s++)
            {
                var walSegment = new WalSegment(Path.GetTempPath(), s + 1);
                var frames = new List<WalTestFrames.Frame>();
                log.Segments.Add(version == WalFormat.FormatVersion1
                    ? WalTestFrames.SegmentVersion1(s + 1, segmentRecords[s], frames)
                    : WalTestFrames.Segment(s + 1, segmentRecords[s], frames));
                foreach (var frame in frames)
                {
                    log.Frames.Add((frame.Start, frame.Length));
                    log.FileOf.Add(s);
                    log.Records.Add((frame.Record, EventIdOf(frame.Record)));
                    WalReplay.Apply(state, frame.Record, walSegment, frame.Length);
                }
            }

            state.CompleteReplay([]);
            foreach (var pending in state.GetPendingEvents())
                log.Unfinished.Add(pending.Event.EventId);
            Assert.Equal(22, log.Unfinished.Count);
            return log;
        }

        private static WalHandlerFinishedRecord Finished(Guid eventId, string subscription) =>
            new() { EventId = eventId, SubscriptionName = subscription, Status = WalHandlerStatus.Succeeded, Attempts = 1 };

        private static Guid EventIdOf(WalRecord record) => record switch
        {
            WalEventRecord e => e.EventId,
            WalHandlerFinishedRecord f => f.EventId,
            WalDeadLetterRecord d => d.EventId,
            _ => Guid.Empty,
        };
    }
}
