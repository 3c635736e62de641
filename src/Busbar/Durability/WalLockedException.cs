namespace Busbar.Durability;

/// <summary>Another process or bus holds the lock file of a write-ahead log directory.</summary>
internal sealed class WalLockedException : IOException
{
    public WalLockedException()
    {
    }

    public WalLockedException(string message)
        : base(message)
    {
    }

    public WalLockedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public static WalLockedException ForDirectory(string directory, Exception innerException) =>
        new($"The write-ahead log directory '{directory}' is already in use by another process or bus (lock file {WalFormat.LockFileName}).", innerException);
}
