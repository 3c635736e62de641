using Busbar.Durability;
using Microsoft.Win32.SafeHandles;

namespace Busbar.Tests.Durability;

/// <summary>
/// The real file system, plus a model of what a power loss would keep: files with writes not yet fsynced, and
/// created files whose directory entry is not yet fsynced. A deletion while anything is unsynced is a violation:
/// the deleted segment's live records may exist only as copies that a power loss would drop.
/// </summary>
internal sealed class RecordingWalStorage : IWalStorage
{
    private readonly Lock _lock = new();
    private readonly HashSet<string> _dirtyFiles = [];
    private readonly HashSet<string> _unsyncedEntries = [];

    public List<string> Violations { get; } = [];

    public List<string> DirectoryFlushes { get; } = [];

    public int Deletions { get; private set; }

    /// <summary>When set, directory fsyncs fail as a full or failing disk makes them.</summary>
    public bool FailDirectoryFlush { get; set; }

    public int UnsyncedEntries
    {
        get
        {
            lock (_lock)
            {
                return _unsyncedEntries.Count;
            }
        }
    }

    public SafeFileHandle CreateSegment(string path)
    {
        var handle = WalStorage.Instance.CreateSegment(path);
        lock (_lock)
        {
            _unsyncedEntries.Add(path);
            _dirtyFiles.Add(path);
        }

        return handle;
    }

    public void Write(SafeFileHandle file, string path, ReadOnlySpan<byte> bytes, long offset)
    {
        WalStorage.Instance.Write(file, path, bytes, offset);
        lock (_lock)
        {
            _dirtyFiles.Add(path);
        }
    }

    public void FlushFile(SafeFileHandle file, string path)
    {
        WalStorage.Instance.FlushFile(file, path);
        lock (_lock)
        {
            _dirtyFiles.Remove(path);
        }
    }

    public void FlushDirectory(string directory)
    {
        if (FailDirectoryFlush)
            throw new IOException($"fsync of the directory '{directory}' failed (injected).");
        WalStorage.Instance.FlushDirectory(directory);
        lock (_lock)
        {
            DirectoryFlushes.Add(directory);
            _unsyncedEntries.RemoveWhere(p => Path.GetDirectoryName(p) == directory);
        }
    }

    public void Delete(string path)
    {
        lock (_lock)
        {
            var dirty = _dirtyFiles.Where(p => p != path).ToList();
            var unsynced = _unsyncedEntries.Where(p => p != path).ToList();
            if (dirty.Count > 0 || unsynced.Count > 0)
            {
                Violations.Add($"deleted {Path.GetFileName(path)} while {string.Join(", ", dirty.Select(Path.GetFileName))} had unsynced writes and {string.Join(", ", unsynced.Select(Path.GetFileName))} unsynced directory entries");
            }

            _dirtyFiles.Remove(path);
            _unsyncedEntries.Remove(path);
            Deletions++;
        }

        WalStorage.Instance.Delete(path);
    }
}
