using System.Text;

namespace Busbar.CrashHost;

/// <summary>Writes whole lines to stdout and flushes each one, so a SIGKILL loses no line that was written.</summary>
internal sealed class LineOutput(Stream stream)
{
    private readonly Lock _lock = new();
    private readonly StreamWriter _writer = new(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };

    public void Line(string line)
    {
        lock (_lock)
        {
            _writer.WriteLine(line);
        }
    }
}
