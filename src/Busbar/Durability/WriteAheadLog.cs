using Microsoft.Extensions.Logging;

namespace Busbar.Durability;

/// <summary>
/// The embedded write-ahead log: appends framed records to size-bounded segment files with group commit,
/// recovers the live set on open, and deletes segments whose records are no longer needed.
/// </summary>
/// <remarks>
/// <para>
/// Appenders encode their record into the pending <see cref="WalBatch"/> under <c>_gate</c> and await the batch's
/// completion. One flusher loop swaps the batch out, writes it with one positional write per segment, fsyncs once
/// (for <see cref="WalFlushMode.Always"/>) and completes every appender of that batch: appenders that arrive during
/// an fsync share the next one. The live set (<see cref="WalLiveSet"/>) is updated under the same lock in log order,
/// so it always matches what replaying the log would produce.
/// </para>
/// <para>
/// Segments are deleted only from the head (oldest first), so a record that cancels another (a finished handler,
/// a re-driven dead letter, a compacted copy) can never be deleted before the record it cancels.
/// </para>
/// </remarks>
internal sealed class WriteAheadLog : IAsyncDisposable
{
    /// <summary>Appenders wait for the flusher once this much is pending (a larger single record is still accepted).</summary>
    private const int MaxPendingBytes = 1024 * 1024;

    private readonly Lock _gate = new();
    private readonly WriteAheadLogOptions _options;
    private readonly ILogger _logger;
    private readonly WalDirectoryLock _directoryLock;
    private readonly WalLiveSet _liveSet;
    private readonly List<WalSegment> _segments;
    private readonly ITimer? _flushTimer;
    private readonly Task _flushLoop;

    // Guarded by _gate.
    private WalBatch _pending = new();
    private WalBatch? _spare = new();
    private TaskCompletionSource? _flusherWake;
    private bool _fsyncRequested;
    private bool _disposing;
    private bool _compacting;
    private Exception? _fault;

    // Owned by the flusher loop (and by DisposeAsync once the loop has ended).
    private readonly WalSegmentWriter _writer;

    private int _disposed;

    private WriteAheadLog(string directory, WriteAheadLogOptions options, TimeProvider timeProvider, ILogger logger, IWalStorage storage, WalDirectoryLock lockFile, WalLiveSet liveSet, WalReplayResult replay)
    {
        Directory = directory;
        _options = options;
        _logger = logger;
        _writer = new WalSegmentWriter(directory, storage, options.FlushMode);
        _directoryLock = lockFile;
        _liveSet = liveSet;
        _segments = replay.Segments;
        _segments.Add(new WalSegment(directory, replay.MaxSequence + 1) { Size = WalFormat.SegmentHeaderSize });
        Recovery = new WalRecoveryResult(liveSet.GetPendingEvents(), liveSet.GetDeadLetters(), replay.Problems);
        lock (_gate)
        {
            CompactLocked();
        }

        _flushLoop = Task.Run(FlushLoopAsync);
        if (options.FlushMode == WalFlushMode.Interval)
        {
            _flushTimer = timeProvider.CreateTimer(static s => ((WriteAheadLog)s!).OnFlushTimer(), this, options.FlushInterval, options.FlushInterval);
        }
    }

    /// <summary>Gets the full path of the log directory.</summary>
    public string Directory { get; }

    /// <summary>Gets what <see cref="Open(string, WriteAheadLogOptions, TimeProvider, ILogger)"/> recovered: unfinished events to re-dispatch, dead letters, problems found.</summary>
    public WalRecoveryResult Recovery { get; }

    /// <summary>Gets how many fsyncs the log has issued; group commit makes this far smaller than the append count.</summary>
    internal long FsyncCount => _writer.FsyncCount;

    /// <summary>Gets the number of segments, the current one included.</summary>
    internal int SegmentCount
    {
        get
        {
            lock (_gate)
            {
                return _segments.Count;
            }
        }
    }

    /// <summary>
    /// Opens (creating if needed) the log in <paramref name="directory"/>, takes its lock file, and recovers.
    /// </summary>
    /// <exception cref="WalLockedException">Another process or bus has the directory open.</exception>
    /// <remarks>Corruption never throws: it is repaired where safe and reported in <see cref="WalRecoveryResult.Problems"/>.</remarks>
    public static WriteAheadLog Open(string directory, WriteAheadLogOptions options, TimeProvider timeProvider, ILogger logger) =>
        Open(directory, options, timeProvider, logger, WalStorage.Instance);

    /// <summary>Opens the log over <paramref name="storage"/> (tests record or fail its operations).</summary>
    internal static WriteAheadLog Open(string directory, WriteAheadLogOptions options, TimeProvider timeProvider, ILogger logger, IWalStorage storage)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(storage);
        options.Validate();

        var fullPath = Path.GetFullPath(directory);
        CreateDirectoryDurably(fullPath, storage);
        var lockFile = WalDirectoryLock.Acquire(fullPath);

        try
        {
            var liveSet = new WalLiveSet();
            var replay = WalReplay.Run(fullPath, liveSet, options.RecoveryMode == WalRecoveryMode.Strict ? WalReplayMode.Strict : WalReplayMode.Repair);
            foreach (var problem in replay.Problems)
            {
                WalLogMessages.Problem(logger, problem.Kind, problem.SegmentFileName, problem.Offset, problem.ByteCount, problem.Action, problem.Message);
            }

            var log = new WriteAheadLog(fullPath, options, timeProvider, logger, storage, lockFile, liveSet, replay);
            WalLogMessages.Recovered(logger, fullPath, log.Recovery.UnfinishedEvents.Count, log.Recovery.DeadLetters.Count, replay.Segments.Count, replay.Problems.Count);
            return log;
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates the directory and any missing parents, fsyncing each parent that gained an entry: otherwise a power
    /// loss could drop the new directory, and every segment in it, after appends were acknowledged.
    /// </summary>
    private static void CreateDirectoryDurably(string fullPath, IWalStorage storage)
    {
        var missing = new Stack<string>();
        for (var path = fullPath; path is not null && !System.IO.Directory.Exists(path); path = Path.GetDirectoryName(path))
        {
            missing.Push(path);
        }

        while (missing.TryPop(out var path))
        {
            System.IO.Directory.CreateDirectory(path);
            if (Path.GetDirectoryName(path) is { } parent)
            {
                storage.FlushDirectory(parent);
            }
        }
    }

    /// <summary>Reads a log directory without locking or modifying it, for <c>busbar wal inspect</c>.</summary>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <remarks>
    /// Safe to run against a directory a live bus is writing: it reports what it reads, and a torn tail it sees
    /// may be a record still being written.
    /// </remarks>
    public static WalInspection Inspect(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var fullPath = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(fullPath))
        {
            throw new DirectoryNotFoundException($"The write-ahead log directory '{fullPath}' does not exist.");
        }

        var liveSet = new WalLiveSet();
        var replay = WalReplay.Run(fullPath, liveSet, WalReplayMode.Inspect);
        return new WalInspection(
            fullPath,
            replay.Segments.ConvertAll(static s => s.ToInfo()),
            liveSet.GetPendingEvents(),
            liveSet.GetDeadLetters(),
            replay.Problems);
    }

    /// <summary>
    /// Appends a newly published event; completes once it is durable under the flush mode. An event with no
    /// subscriptions is not written.
    /// </summary>
    /// <remarks>Cancellation stops the wait only: a record already handed to the log may still become durable.</remarks>
    /// <exception cref="ArgumentException">
    /// The event id is still live in the log (an unfinished or dead-lettered event has it), or the encoded record is
    /// larger than <see cref="WriteAheadLogOptions.MaxRecordSize"/>. Nothing was written.
    /// </exception>
    public ValueTask AppendNewEventAsync(WalEventRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        return record.Subscriptions.Count == 0 ? ValueTask.CompletedTask : AppendAsync(record, cancellationToken, requireNewEvent: true);
    }

    /// <summary>
    /// Appends an event whose id may be live; completes once it is durable under the flush mode. An event with no
    /// subscriptions is not written.
    /// </summary>
    /// <remarks>
    /// Appending an event id that is still live adds its subscriptions to the pending set (for example, to re-drive
    /// a dead letter: append the event again with the one subscription, then <see cref="AppendDeadLetterRedrivenAsync"/>).
    /// Cancellation stops the wait only: a record already handed to the log may still become durable.
    /// </remarks>
    /// <exception cref="ArgumentException">The encoded record is larger than <see cref="WriteAheadLogOptions.MaxRecordSize"/>.</exception>
    public ValueTask AppendEventAsync(WalEventRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        return record.Subscriptions.Count == 0 ? ValueTask.CompletedTask : AppendAsync(record, cancellationToken);
    }

    /// <summary>
    /// Records that <paramref name="subscription"/> finished with an event, so recovery will not re-dispatch it there.
    /// </summary>
    /// <remarks>
    /// Waits for fsync only under <see cref="WalFlushMode.Always"/>. A finish lost in a crash means one redelivery
    /// (at-least-once). A subscription that is not pending for the event is ignored without writing.
    /// </remarks>
    public ValueTask AppendHandlerFinishedAsync(Guid eventId, string subscription, WalHandlerStatus status, int attempts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        return AppendAsync(new WalHandlerFinishedRecord { EventId = eventId, SubscriptionName = subscription, Status = status, Attempts = attempts }, cancellationToken);
    }

    /// <summary>
    /// Records a dead letter. It also finishes the subscription for the event (do not append a separate
    /// handler-finished record) and keeps the event record until the dead letter is re-driven.
    /// </summary>
    /// <exception cref="InvalidOperationException">The event is not live in this log, or the dead letter id is already recorded.</exception>
    public ValueTask AppendDeadLetterAsync(WalDeadLetterRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        return AppendAsync(record, cancellationToken);
    }

    /// <summary>Records that a dead letter was re-driven or discarded; it will not be recovered again.</summary>
    /// <remarks>An unknown or already re-driven dead letter id is ignored without writing.</remarks>
    public ValueTask AppendDeadLetterRedrivenAsync(Guid deadLetterId, CancellationToken cancellationToken = default) =>
        AppendAsync(new WalDeadLetterRedrivenRecord { DeadLetterId = deadLetterId }, cancellationToken);

    /// <summary>
    /// Hands <paramref name="record"/> to the log without waiting for its flush: for writes nobody awaits (handler
    /// finishes, dead letters, refusals, <c>TryPublish</c>). The record is applied to the live set at once, as with
    /// the awaited appends, and written with the next batch; a failure to write that batch is logged once for all
    /// of its posted records, so a post costs no continuation of its own.
    /// </summary>
    /// <param name="record">The record; an event record with no subscriptions is not written.</param>
    /// <param name="requireNewEvent">As <see cref="AppendNewEventAsync"/>: an event id still live is refused.</param>
    /// <returns>
    /// A completed task once the record is in the pending batch, or nothing was to be written. When the pending batch
    /// is full, the wait for room (backpressure), which the caller observes: it fails if the record cannot be handed over.
    /// </returns>
    /// <exception cref="ArgumentException">As the awaited appends: an event id still live (with <paramref name="requireNewEvent"/>), a record too large.</exception>
    /// <exception cref="InvalidOperationException">As <see cref="AppendDeadLetterAsync"/>, or the log failed earlier.</exception>
    public ValueTask Post(WalRecord record, bool requireNewEvent = false)
    {
        ArgumentNullException.ThrowIfNull(record);
        return record is WalEventRecord { Subscriptions.Count: 0 }
            ? ValueTask.CompletedTask
            : AppendAsync(record, CancellationToken.None, requireNewEvent, posted: true);
    }

    /// <summary>Writes and fsyncs everything pending, stops the flusher, closes the segment and releases the lock.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_flushTimer is not null)
        {
            await _flushTimer.DisposeAsync().ConfigureAwait(false);
        }

        TaskCompletionSource? wake;
        lock (_gate)
        {
            _disposing = true;
            wake = TakeWakeLocked();
        }

        wake?.TrySetResult();
        await _flushLoop.ConfigureAwait(false);
        try
        {
            _writer.Close(sync: _fault is null);
        }
        finally
        {
            _directoryLock.Dispose();
        }
    }

    private ValueTask AppendAsync(WalRecord record, CancellationToken cancellationToken, bool requireNewEvent = false, bool posted = false)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var bodyLength = WalRecordCodec.GetBodyLength(record);
        var frameLength = bodyLength + WalFormat.FrameOverhead;
        if (frameLength > _options.MaxRecordSize)
        {
            throw new ArgumentException(
                $"The {record.Type} record is {frameLength} bytes, larger than WriteAheadLogOptions.MaxRecordSize ({_options.MaxRecordSize} bytes); nothing was written.",
                nameof(record));
        }

        var outcome = TryEnqueue(record, bodyLength, frameLength, requireNewEvent, posted, out var completion, out var wake);
        wake?.TrySetResult();
        return outcome switch
        {
            EnqueueOutcome.Enqueued => posted ? ValueTask.CompletedTask : Await(completion!, cancellationToken),
            EnqueueOutcome.NothingToWrite => ValueTask.CompletedTask,
            _ => AppendSlowAsync(record, bodyLength, frameLength, requireNewEvent, posted, completion!, cancellationToken),
        };
    }

    private async ValueTask AppendSlowAsync(WalRecord record, int bodyLength, int frameLength, bool requireNewEvent, bool posted, Task flushed, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Backpressure: the pending batch is full; wait until the flusher has taken and written it.
            await flushed.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
            var outcome = TryEnqueue(record, bodyLength, frameLength, requireNewEvent, posted, out var completion, out var wake);
            wake?.TrySetResult();
            switch (outcome)
            {
                case EnqueueOutcome.Enqueued:
                    if (!posted)
                        await Await(completion!, cancellationToken).ConfigureAwait(false);
                    return;
                case EnqueueOutcome.NothingToWrite:
                    return;
                default:
                    flushed = completion!;
                    break;
            }
        }
    }

    private static ValueTask Await(Task completion, CancellationToken cancellationToken) =>
        completion.IsCompletedSuccessfully ? ValueTask.CompletedTask
        : new ValueTask(cancellationToken.CanBeCanceled ? completion.WaitAsync(cancellationToken) : completion);

    private EnqueueOutcome TryEnqueue(WalRecord record, int bodyLength, int frameLength, bool requireNewEvent, bool posted, out Task? completion, out TaskCompletionSource? wake)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposing, this);
            if (_fault is not null)
            {
                throw new InvalidOperationException($"The write-ahead log '{Directory}' failed to write and no longer accepts appends.", _fault);
            }

            wake = null;
            completion = _pending.Completion.Task;
            if (_pending.Length > 0 && _pending.Length + frameLength > MaxPendingBytes)
            {
                wake = TakeWakeLocked();
                return EnqueueOutcome.Full;
            }

            if (!ShouldWriteLocked(record, requireNewEvent))
            {
                completion = null;
                return EnqueueOutcome.NothingToWrite;
            }

            WriteLocked(record, bodyLength);
            if (posted)
                _pending.HasPosted = true;
            CompactLocked();
            wake = TakeWakeLocked();
            return EnqueueOutcome.Enqueued;
        }
    }

    private bool ShouldWriteLocked(WalRecord record, bool requireNewEvent)
    {
        switch (record)
        {
            case WalEventRecord e when requireNewEvent && _liveSet.TryGetEvent(e.EventId, out _):
                // Appending would merge into the live event, and the first finish would then end both.
                throw new ArgumentException(
                    $"Event id {e.EventId} is still live in the write-ahead log (an earlier event with this id is pending or dead-lettered); a durable publish needs an id of its own. Nothing was written.",
                    nameof(record));
            case WalHandlerFinishedRecord f:
                return _liveSet.IsPending(f.EventId, f.SubscriptionName);
            case WalDeadLetterRedrivenRecord r:
                return _liveSet.TryGetDeadLetter(r.DeadLetterId, out _);
            case WalDeadLetterRecord d:
                if (!_liveSet.TryGetEvent(d.EventId, out _))
                {
                    throw new InvalidOperationException($"Cannot dead-letter event {d.EventId}: it is not live in the write-ahead log (never appended, or every subscription already finished).");
                }

                if (_liveSet.TryGetDeadLetter(d.DeadLetterId, out _))
                {
                    throw new InvalidOperationException($"Dead letter {d.DeadLetterId} is already recorded.");
                }

                return true;
            default:
                return true;
        }
    }

    /// <summary>Frames the record into the pending batch, rolling the segment if it would overflow, and applies it to the live set.</summary>
    private void WriteLocked(WalRecord record, int bodyLength)
    {
        var frameLength = bodyLength + WalFormat.FrameOverhead;
        var segment = _segments[^1];
        if (segment.RecordCount > 0 && segment.Size + frameLength > _options.SegmentSize)
        {
            segment = new WalSegment(Directory, segment.Sequence + 1) { Size = WalFormat.SegmentHeaderSize };
            _segments.Add(segment);
        }

        WalRecordCodec.WriteFrame(record, _pending.Append(segment, frameLength), bodyLength);
        if (record.Type != WalRecordType.HandlerFinished)
            _pending.NeedsSync = true;
        segment.Size += frameLength;
        segment.CountRecord(record.Type);
        WalReplay.Apply(_liveSet, record, segment, frameLength);
    }

    /// <summary>
    /// Deletes head segments that hold nothing live, and copies the live records of the oldest closed segment
    /// forward when <see cref="WalCompactionPolicy"/> says that pays.
    /// </summary>
    private void CompactLocked()
    {
        if (_compacting)
        {
            return;
        }

        _compacting = true;
        try
        {
            var budget = _segments.Count;
            while (_segments.Count > 1 && budget-- > 0)
            {
                var oldest = _segments[0];
                if (oldest.LiveCount == 0)
                {
                    _segments.RemoveAt(0);
                    _pending.Deletions.Add(oldest);
                    continue;
                }

                if (!WalCompactionPolicy.ShouldCopyOldest(_segments))
                {
                    break;
                }

                var copied = CopyLiveRecordsLocked(oldest);
                WalLogMessages.Compacted(_logger, oldest.FileName, copied);
            }
        }
        finally
        {
            _compacting = false;
        }
    }

    private int CopyLiveRecordsLocked(WalSegment segment)
    {
        var copied = 0;
        foreach (var deadLetterId in segment.LiveDeadLetters.ToArray())
        {
            _liveSet.TryGetDeadLetter(deadLetterId, out var deadLetter);
            if (_liveSet.TryGetEvent(deadLetter.Record.EventId, out var live) && live.Segment == segment)
            {
                CopyEventLocked(live);
                copied++;
            }

            WriteLocked(deadLetter.Record, WalRecordCodec.GetBodyLength(deadLetter.Record));
            copied++;
        }

        foreach (var eventId in segment.LiveEvents.ToArray())
        {
            _liveSet.TryGetEvent(eventId, out var live);
            CopyEventLocked(live);
            copied++;
        }

        return copied;
    }

    private void CopyEventLocked(WalLiveSet.LiveEvent live)
    {
        // The copy lists only the still-pending subscriptions, so the finish records behind it are no longer needed.
        var copy = live.Record! with { Subscriptions = live.Pending.ToArray() };
        WriteLocked(copy, WalRecordCodec.GetBodyLength(copy));
    }

    private TaskCompletionSource? TakeWakeLocked()
    {
        var wake = _flusherWake;
        _flusherWake = null;
        return wake;
    }

    private void OnFlushTimer()
    {
        TaskCompletionSource? wake;
        lock (_gate)
        {
            _fsyncRequested = true;
            wake = TakeWakeLocked();
        }

        wake?.TrySetResult();
    }

    private async Task FlushLoopAsync()
    {
        while (true)
        {
            WalBatch? batch = null;
            Task? idle = null;
            var fsyncOnly = false;
            lock (_gate)
            {
                if (_pending.HasWork)
                {
                    batch = _pending;
                    _pending = _spare!;
                    _spare = null;
                }
                else if (_fsyncRequested)
                {
                    _fsyncRequested = false;
                    fsyncOnly = true;
                }
                else if (_disposing)
                {
                    return;
                }
                else
                {
                    _flusherWake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    idle = _flusherWake.Task;
                }
            }

            if (idle is not null)
            {
                await idle.ConfigureAwait(false);
                continue;
            }

            if (fsyncOnly)
            {
                if (Volatile.Read(ref _fault) is null)
                {
                    try
                    {
                        _writer.SyncAll();
                    }
                    catch (Exception ex)
                    {
                        Fail(ex);
                    }
                }

                continue;
            }

            try
            {
                var fault = Volatile.Read(ref _fault);
                if (fault is not null)
                {
                    throw new InvalidOperationException($"The write-ahead log '{Directory}' failed to write earlier.", fault);
                }

                WriteBatch(batch!);
                batch!.Completion.TrySetResult();
            }
            catch (Exception ex)
            {
                Fail(ex);
                batch!.Completion.TrySetException(ex);
                if (batch.HasPosted)
                {
                    // Posted records have no awaiter: report the failure for them, and mark the exception observed.
                    Diagnostics.LogMessages.JournalWriteFailed(_logger, ex, Directory);
                    _ = batch.Completion.Task.Exception;
                }
            }

            lock (_gate)
            {
                batch.Reset();
                _spare = batch;
            }
        }
    }

    private void WriteBatch(WalBatch batch)
    {
        var bytes = batch.Bytes;
        for (var i = 0; i < batch.Chunks.Count; i++)
        {
            var (segment, start) = batch.Chunks[i];
            var end = i + 1 < batch.Chunks.Count ? batch.Chunks[i + 1].Start : bytes.Length;
            _writer.Write(segment, bytes[start..end]);
        }

        if (batch.Deletions.Count > 0)
        {
            // Whatever the mode, nothing is deleted before everything written so far is durable: the records a
            // deleted segment held live on only as compacted copies in later segments (closed segments were
            // fsynced when closed; the current one and the directory entries are synced here).
            _writer.SyncAll();
        }
        else if (_options.FlushMode == WalFlushMode.Always && batch.NeedsSync)
        {
            _writer.SyncCurrent();
        }

        foreach (var segment in batch.Deletions)
            _writer.Delete(segment);
    }

    private void Fail(Exception exception)
    {
        lock (_gate)
        {
            _fault ??= exception;
        }

        WalLogMessages.WriteFailed(_logger, exception, Directory);
    }

    private enum EnqueueOutcome
    {
        Enqueued,
        NothingToWrite,
        Full,
    }
}
