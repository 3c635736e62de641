using Microsoft.Win32.SafeHandles;

namespace Busbar.Durability;

/// <summary>
/// The file operations whose order decides what survives a power loss: creating, writing and syncing segments,
/// syncing the directory, deleting. One seam, so tests can check that order (<see cref="WalStorage"/> is the real one).
/// </summary>
internal interface IWalStorage
{
    /// <summary>Creates a new segment file; its directory entry is not durable until <see cref="FlushDirectory"/>.</summary>
    SafeFileHandle CreateSegment(string path);

    void Write(SafeFileHandle file, string path, ReadOnlySpan<byte> bytes, long offset);

    /// <summary>fsync of a file's data. Throws when the operating system reports a failure.</summary>
    void FlushFile(SafeFileHandle file, string path);

    /// <summary>fsync of a directory's entries. Throws when the operating system reports a failure.</summary>
    void FlushDirectory(string directory);

    void Delete(string path);
}
