using System.Globalization;
using Busbar.Durability;

namespace Busbar;

/// <summary>
/// Options for the embedded write-ahead log that makes a bus durable on one machine.
/// </summary>
/// <remarks>Validated once, when the log is opened; an invalid value fails with a message naming the option.</remarks>
public sealed record WriteAheadLogOptions
{
    /// <summary>Gets when appended records are forced to stable storage.</summary>
    /// <value>The default is <see cref="WalFlushMode.Always"/>.</value>
    /// <remarks>
    /// <see cref="WalFlushMode.Always"/> is the default because it is the only mode in which an acknowledged
    /// publish survives power loss, and group commit keeps it fast: concurrent publishers share one fsync.
    /// Choose <see cref="WalFlushMode.Interval"/> or <see cref="WalFlushMode.None"/> only when losing the most
    /// recent acknowledged events on power loss is acceptable.
    /// </remarks>
    public WalFlushMode FlushMode { get; init; } = WalFlushMode.Always;

    /// <summary>Gets how often the log fsyncs when <see cref="FlushMode"/> is <see cref="WalFlushMode.Interval"/>.</summary>
    /// <value>The default is 100 milliseconds. Must be positive and at most one hour.</value>
    /// <remarks>A shorter interval loses less on power loss and costs more fsyncs. Ignored by the other modes.</remarks>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Gets the size in bytes at which the log starts a new segment file.</summary>
    /// <value>The default is 16 MiB (16,777,216 bytes). Must be at least 64 KiB (65,536 bytes).</value>
    /// <remarks>
    /// Segments are the unit of compaction: a segment is deleted once nothing in it is still needed. Smaller
    /// segments bound disk use more tightly but create and delete files more often. A single record larger than
    /// the segment size gets a segment of its own.
    /// </remarks>
    public long SegmentSize { get; init; } = 16L * 1024 * 1024;

    /// <summary>Gets the largest encoded record, in bytes, the log accepts.</summary>
    /// <value>The default is 4 MiB (4,194,304 bytes). Must be between 1 KiB and 256 MiB.</value>
    /// <remarks>
    /// An event whose encoded record (payload plus context plus 13 bytes of framing) is larger is refused with an
    /// <see cref="ArgumentException"/> before anything is written. The limit also bounds the memory recovery needs.
    /// </remarks>
    public int MaxRecordSize { get; init; } = 4 * 1024 * 1024;

    /// <summary>Gets what opening the log does when it finds damage other than a torn tail.</summary>
    /// <value>The default is <see cref="WalRecoveryMode.Repair"/>: recover around the damage and report it.</value>
    /// <remarks>
    /// <see cref="WalRecoveryMode.Strict"/> makes building the bus throw <see cref="WalCorruptionException"/> instead,
    /// leaving the files untouched, for deployments that would rather stop than run without the damaged records.
    /// </remarks>
    public WalRecoveryMode RecoveryMode { get; init; } = WalRecoveryMode.Repair;

    internal const long MinimumSegmentSize = 64 * 1024;

    internal const int MinimumRecordSize = 1024;

    internal void Validate()
    {
        if (!Enum.IsDefined(FlushMode))
        {
            throw new ArgumentOutOfRangeException(nameof(FlushMode), Invariant($"WriteAheadLogOptions.FlushMode must be Always, Interval or None (was {(int)FlushMode})."));
        }

        if (!Enum.IsDefined(RecoveryMode))
        {
            throw new ArgumentOutOfRangeException(nameof(RecoveryMode), Invariant($"WriteAheadLogOptions.RecoveryMode must be Repair or Strict (was {(int)RecoveryMode})."));
        }

        if (FlushInterval <= TimeSpan.Zero || FlushInterval > TimeSpan.FromHours(1))
        {
            throw new ArgumentOutOfRangeException(nameof(FlushInterval), Invariant($"WriteAheadLogOptions.FlushInterval must be positive and at most one hour (was {FlushInterval})."));
        }

        if (SegmentSize < MinimumSegmentSize)
        {
            throw new ArgumentOutOfRangeException(nameof(SegmentSize), Invariant($"WriteAheadLogOptions.SegmentSize must be at least {MinimumSegmentSize} bytes (was {SegmentSize})."));
        }

        if (MaxRecordSize < MinimumRecordSize || MaxRecordSize > WalFormat.MaxRecordSizeLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRecordSize), Invariant($"WriteAheadLogOptions.MaxRecordSize must be between {MinimumRecordSize} and {WalFormat.MaxRecordSizeLimit} bytes (was {MaxRecordSize})."));
        }
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
