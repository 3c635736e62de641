using System.Runtime.InteropServices;

namespace Busbar.Durability;

/// <summary>
/// Makes a directory's entries durable (POSIX <c>fsync</c> on the directory). A new segment file is
/// only guaranteed to survive power loss once its directory entry is synced; .NET offers no handle
/// to a directory, so this goes to libc directly. Elsewhere it does nothing.
/// </summary>
internal static partial class DirectorySync
{
    private const int ReadOnly = 0;

    public static bool Flush(string directory)
    {
        if (!OperatingSystem.IsLinux())
            return false;
        var fd = Open(directory, ReadOnly);
        if (fd < 0)
            return false;
        try
        {
            return Fsync(fd) == 0;
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int Close(int fd);
}
