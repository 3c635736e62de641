namespace Busbar;

/// <summary>
/// When the write-ahead log forces appended records from the operating system's page cache to stable storage.
/// </summary>
/// <remarks>
/// The modes trade publish latency against what survives a failure. A process crash (including SIGKILL) loses
/// nothing that reached the operating system in any mode; the modes differ in what survives power loss or a kernel crash.
/// </remarks>
public enum WalFlushMode
{
    /// <summary>
    /// Group commit: an append completes only after its bytes are fsynced. Concurrent appenders share one fsync.
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
    /// <remarks>Power loss can lose up to one interval of acknowledged records. A process crash loses nothing.</remarks>
    Interval = 1,

    /// <summary>
    /// Appends complete once written to the operating system; the log never fsyncs explicitly except on dispose.
    /// </summary>
    /// <remarks>
    /// Fastest. Survives a process crash, but power loss can lose whatever the operating system had not yet written back.
    /// </remarks>
    None = 2,
}
