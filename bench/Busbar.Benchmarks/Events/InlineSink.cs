namespace Busbar.Benchmarks.Events;

/// <summary>
/// The field every inline handler increments. One static field for every row, so no row pays for a
/// closure or an instance lookup that another does not.
/// </summary>
public static class InlineSink
{
    public static long Count;
}
