using Busbar.Durability;

namespace Busbar.Cli.Wal;

/// <summary>Reads a log directory for the <c>wal</c> commands, turning file-system problems into user errors.</summary>
internal static class WalDirectory
{
    /// <summary>The full path of an existing directory, or a <see cref="UserErrorException"/> saying what is wrong.</summary>
    public static string Require(string directory)
    {
        var full = Path.GetFullPath(directory);
        if (File.Exists(full))
            throw new UserErrorException($"'{full}' is a file, not a write-ahead log directory.");
        if (!Directory.Exists(full))
            throw new UserErrorException($"the write-ahead log directory '{full}' does not exist.");
        return full;
    }

    /// <summary>
    /// The full path of a directory that holds a log (at least one segment file), or a
    /// <see cref="UserErrorException"/>. Checked before anything opens the log, so a wrong path is
    /// refused without creating a segment or a lock file in it.
    /// </summary>
    public static string RequireLog(string directory)
    {
        var full = Require(directory);
        string[] segments;
        try
        {
            segments = Directory.GetFiles(full, "*" + WalFormat.SegmentExtension);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"cannot read the write-ahead log directory '{full}': {ex.Message}", ex);
        }

        if (segments.Length == 0)
            throw new UserErrorException($"'{full}' holds no write-ahead log (no *{WalFormat.SegmentExtension} segment files).");
        return full;
    }

    /// <summary>A read-only look at a directory that holds a log; safe while a bus is writing to it.</summary>
    public static WalInspection Inspect(string directory)
    {
        var full = RequireLog(directory);
        try
        {
            return WriteAheadLog.Inspect(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"cannot read the write-ahead log directory '{full}': {ex.Message}", ex);
        }
    }
}
