using Microsoft.Win32.SafeHandles;

namespace Busbar.Durability;

/// <summary>
/// The write-ahead log's file writer: the open segment file, its write offset, and which fsyncs are owed (the
/// current segment's data, the directory's new entries). Used only by the log's flush loop, one thread at a time.
/// </summary>
/// <param name="directory">The log's directory, synced after a segment is created.</param>
/// <param name="storage">The file system calls (a fault-injecting one in tests).</param>
/// <param name="flushMode">Under <see cref="WalFlushMode.Always"/> a new segment's directory entry is synced at once.</param>
internal sealed class WalSegmentWriter(string directory, IWalStorage storage, WalFlushMode flushMode)
{
    private SafeFileHandle? _file;
    private WalSegment? _fileSegment;
    private long _fileOffset;
    private bool _fileDirty;
    private bool _directoryDirty;
    private long _fsyncCount;

    /// <summary>How many fsyncs of segment files were issued.</summary>
    public long FsyncCount => Interlocked.Read(ref _fsyncCount);

    /// <summary>True when the current segment has writes not yet synced.</summary>
    public bool IsDirty => _fileDirty && _file is not null;

    /// <summary>Appends <paramref name="bytes"/> to <paramref name="segment"/>, opening it (and closing the previous one) first when needed.</summary>
    public void Write(WalSegment segment, ReadOnlySpan<byte> bytes)
    {
        var file = EnsureFile(segment);
        storage.Write(file, segment.FilePath, bytes, _fileOffset);
        _fileOffset += bytes.Length;
        _fileDirty = true;
    }

    /// <summary>fsyncs the current segment if it has unsynced writes.</summary>
    public void SyncCurrent()
    {
        if (IsDirty)
            Fsync(_file!);
    }

    /// <summary>fsyncs the current segment if it has unsynced writes, and the directory if a segment was created since its last sync.</summary>
    public void SyncAll()
    {
        SyncCurrent();
        if (_directoryDirty)
        {
            storage.FlushDirectory(directory);
            _directoryDirty = false;
        }
    }

    /// <summary>Deletes a segment file, closing it first (synced) when it is the current one.</summary>
    public void Delete(WalSegment segment)
    {
        if (segment == _fileSegment)
            CloseFile();
        storage.Delete(segment.FilePath);
    }

    /// <summary>Closes the current file at dispose; syncs what is owed unless the log has failed.</summary>
    public void Close(bool sync)
    {
        if (_file is not null)
        {
            if (_fileDirty && sync)
                Fsync(_file);
            _file.Dispose();
            _file = null;
        }

        if (_directoryDirty && sync)
        {
            storage.FlushDirectory(directory);
            _directoryDirty = false;
        }
    }

    private SafeFileHandle EnsureFile(WalSegment segment)
    {
        if (_fileSegment == segment)
            return _file!;

        CloseFile();
        var file = storage.CreateSegment(segment.FilePath);
        _directoryDirty = true;

        // Under Always an acknowledged append must survive power loss, so the new file's directory entry is
        // synced before any append to it completes (once per segment). Interval syncs it at the next tick,
        // None before compaction deletes anything and on dispose.
        if (flushMode == WalFlushMode.Always)
        {
            storage.FlushDirectory(directory);
            _directoryDirty = false;
        }

        Span<byte> header = stackalloc byte[WalFormat.SegmentHeaderSize];
        WalFormat.WriteSegmentHeader(header, segment.Sequence);
        storage.Write(file, segment.FilePath, header, 0);
        _file = file;
        _fileSegment = segment;
        _fileOffset = WalFormat.SegmentHeaderSize;
        _fileDirty = true;
        return file;
    }

    private void CloseFile()
    {
        if (_file is null)
            return;

        // A closed segment is never written again, so it is synced once here, in every mode: it may hold compacted
        // copies, and once closed nothing else would sync it before compaction deletes the segments they replace.
        if (_fileDirty)
            Fsync(_file);
        _file.Dispose();
        _file = null;
        _fileSegment = null;
        _fileDirty = false;
    }

    private void Fsync(SafeFileHandle file)
    {
        storage.FlushFile(file, _fileSegment?.FilePath ?? directory);
        _fileDirty = false;
        Interlocked.Increment(ref _fsyncCount);
    }
}
