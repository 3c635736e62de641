namespace Busbar;

/// <summary>
/// When the write-ahead log forces appended records from the operating system's page cache to stable storage.
/// </summary>
/// <remarks>
/// The modes trade publish latency against what survives a failure. A process crash (including SIGKILL) loses
/// nothing acknowledged in any mode; the modes differ in what survives power loss or a kernel crash. In every mode
/// a closed segment is fsynced, and nothing is deleted by compaction before everything written so far (and any new
/// segment's directory entry) is fsynced, so no mode loses data that was already durable. A failed fsync of any kind
/// fails the log. docs/durability.md has the table.
/// </remarks>
public enum WalFlushMode
{
    /// <summary>
    /// Group commit: an append completes only after its bytes are fsynced (and, for the first append to a new
    /// segment, the directory entry too). Concurrent appenders share one fsync.
    /// </summary>
    /// <remarks>
    /// The only mode in which an acknowledged publish survives power loss. Throughput comes from batching: every
    /// append that arrives while an fsync is in progress joins the next one, so many publishers cost one fsync.
    /// </remarks>
    Always = 0,

    /// <summary>
    /// Appends complete once written to the operating system; the log fsyncs every
    /// <see cref="WriteAheadLogOptions.FlushInterval"/>.
    /// </summary>
    /// <remarks>
    /// Each tick fsyncs the current segment and, if a segment was created since the last tick, the directory. Power
    /// loss can lose what was acknowledged since the last completed tick. A process crash loses nothing.
    /// </remarks>
    Interval = 1,

    /// <summary>
    /// Appends complete once written to the operating system; the log fsyncs only when it closes a segment, before
    /// compaction deletes one, and on dispose, never per append.
    /// </summary>
    /// <remarks>
    /// Fastest. Survives a process crash, but power loss can lose appends made since the last of those sync points.
    /// </remarks>
    None = 2,
}
