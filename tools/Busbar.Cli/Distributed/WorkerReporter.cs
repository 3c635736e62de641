namespace Busbar.Cli.Distributed;

/// <summary>Writes a worker's protocol lines (<see cref="WorkerLine"/>) to its standard output, whole and flushed, from any thread.</summary>
internal sealed class WorkerReporter(TextWriter output)
{
    private readonly Lock _gate = new();

    /// <summary>Writes and flushes one line: the demo reads it before the worker acts on the broker.</summary>
    public void Write(string line)
    {
        lock (_gate)
        {
            output.WriteLine(line);
            output.Flush();
        }
    }
}
