using System.Runtime.InteropServices;

namespace Busbar.Durability;

/// <summary>
/// The exclusive lock on a log directory: its lock file open with <see cref="FileShare.None"/>, plus (on Unix) an
/// explicit <c>flock(LOCK_EX | LOCK_NB)</c> on that file.
/// </summary>
/// <remarks>
/// <para>
/// On Unix, .NET implements <see cref="FileShare.None"/> with an advisory <c>flock</c>, and skips it entirely when
/// <c>DOTNET_SYSTEM_IO_DISABLEFILELOCKING</c> (or the <c>System.IO.DisableFileLocking</c> switch) is set. Two buses
/// on one directory would then both "own" it and interleave segments. Taking the <c>flock</c> ourselves keeps the
/// guarantee whatever that switch says. It is advisory: it excludes every Busbar process (and any process that
/// also uses <c>flock</c>), not a program that writes the files blindly; it holds on local file systems, and on
/// NFS only where the server supports <c>flock</c> (otherwise opening fails rather than running unlocked). The
/// kernel releases it when the process dies, so a SIGKILL never leaves a stale lock.
/// </para>
/// <para>On Windows, <see cref="FileShare.None"/> is a mandatory sharing mode and the switch does not exist.</para>
/// </remarks>
internal sealed partial class WalDirectoryLock : IDisposable
{
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;

    private readonly FileStream _file;

    private WalDirectoryLock(FileStream file) => _file = file;

    /// <exception cref="WalLockedException">Another process or bus holds the lock.</exception>
    /// <exception cref="IOException">The lock could not be taken for another reason (the message has the errno).</exception>
    public static WalDirectoryLock Acquire(string directory)
    {
        FileStream file;
        try
        {
            file = new FileStream(Path.Combine(directory, WalFormat.LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex) when (ex is not (FileNotFoundException or DirectoryNotFoundException or PathTooLongException))
        {
            throw WalLockedException.ForDirectory(directory, ex);
        }

        if (OperatingSystem.IsWindows())
        {
            return new WalDirectoryLock(file);
        }

        var locked = false;
        var handleAdded = false;
        try
        {
            var handle = file.SafeFileHandle;
            handle.DangerousAddRef(ref handleAdded);
            if (Flock((int)handle.DangerousGetHandle(), LockExclusive | LockNonBlocking) == 0)
            {
                locked = true;
                return new WalDirectoryLock(file);
            }

            var errno = Marshal.GetLastPInvokeError();
            var wouldBlock = errno == (OperatingSystem.IsLinux() ? 11 : 35);
            var inner = new IOException($"flock on {WalFormat.LockFileName} failed (errno {errno}).");
            throw wouldBlock
                ? WalLockedException.ForDirectory(directory, inner)
                : new IOException($"Cannot lock the write-ahead log directory '{directory}' (flock on {WalFormat.LockFileName} failed with errno {errno}); refusing to open it without the lock.", inner);
        }
        finally
        {
            if (handleAdded)
            {
                file.SafeFileHandle.DangerousRelease();
            }

            if (!locked)
            {
                file.Dispose();
            }
        }
    }

    public void Dispose() => _file.Dispose();

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int Flock(int fd, int operation);
}
