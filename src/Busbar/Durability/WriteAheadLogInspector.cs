using Busbar.Durability;

namespace Busbar;

/// <summary>Reads a write-ahead log directory without opening it for writing, for tools and health checks.</summary>
public static class WriteAheadLogInspector
{
    /// <summary>Reads every segment of <paramref name="directory"/> and reports what recovery would find.</summary>
    /// <param name="directory">The log directory (the one passed to <see cref="EventBusBuilder.UseWriteAheadLog(string, WriteAheadLogOptions?)"/>).</param>
    /// <returns>Segments, counts of pending events and dead letters, and every problem with the action recovery would take.</returns>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is null, empty or white space.</exception>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <remarks>
    /// Takes no lock and writes nothing, so it is safe against a directory a live bus is writing: a torn tail it
    /// sees may be a record still being written. Corruption never throws; only a missing or unreadable directory does.
    /// </remarks>
    public static WriteAheadLogInspection Inspect(string directory)
    {
        var inspection = WriteAheadLog.Inspect(directory);
        return new WriteAheadLogInspection
        {
            Directory = inspection.Directory,
            Segments = inspection.Segments,
            PendingEvents = inspection.UnfinishedEvents.Count,
            DeadLetterCount = inspection.DeadLetters.Count,
            Problems = inspection.Problems,
        };
    }
}
