namespace Busbar.Benchmarks.Driver;

/// <summary>What one overload run published, and where every event went.</summary>
public sealed record OverloadResult(
    string Row,
    string Mode,
    long Published,
    long Handled,
    long Dropped,
    long Rejected,
    long BaselineWorkingSet,
    long PeakGrowth,
    TimeSpan Elapsed,
    bool CutShort)
{
    public bool Accounted => Handled + Dropped + Rejected == Published;
}
