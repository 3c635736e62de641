using Busbar.Durability;
using Microsoft.Extensions.Logging.Abstractions;

namespace Busbar.Tests.Durability;

/// <summary>A unique directory under the temp path, deleted on dispose.</summary>
internal sealed class WalTestDirectory : IDisposable
{
    public WalTestDirectory() =>
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "busbar-wal-tests", Guid.NewGuid().ToString("N"));

    public string Path { get; }

    public WriteAheadLog Open(WriteAheadLogOptions? options = null, TimeProvider? timeProvider = null) =>
        WriteAheadLog.Open(Path, options ?? new WriteAheadLogOptions(), timeProvider ?? TimeProvider.System, NullLogger.Instance);

    public string[] SegmentFiles() =>
        Directory.GetFiles(Path, "*.wal").OrderBy(f => f, StringComparer.Ordinal).ToArray();

    public long TotalSegmentBytes() => SegmentFiles().Sum(f => new FileInfo(f).Length);

    public Dictionary<string, byte[]> Snapshot() =>
        Directory.GetFiles(Path).ToDictionary(f => f, File.ReadAllBytes);

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
