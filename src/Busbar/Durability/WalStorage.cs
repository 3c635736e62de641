using Microsoft.Win32.SafeHandles;

namespace Busbar.Durability;

/// <summary>The file system, as the write-ahead log uses it.</summary>
internal sealed class WalStorage : IWalStorage
{
    public static readonly WalStorage Instance = new();

    private WalStorage()
    {
    }

    public SafeFileHandle CreateSegment(string path) =>
        File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);

    public void Write(SafeFileHandle file, string path, ReadOnlySpan<byte> bytes, long offset) =>
        RandomAccess.Write(file, bytes, offset);

    public void FlushFile(SafeFileHandle file, string path) => RandomAccess.FlushToDisk(file);

    public void FlushDirectory(string directory) => DirectorySync.Flush(directory);

    public void Delete(string path) => File.Delete(path);
}
