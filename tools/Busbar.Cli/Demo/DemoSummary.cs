using System.Globalization;

namespace Busbar.Cli.Demo;

/// <summary>The graceful-shutdown summary: where every published event ended, what the stop did, where the log is.</summary>
internal sealed record DemoSummary
{
    public required bool Interrupted { get; init; }

    public required long Published { get; init; }

    public required long Orders { get; init; }

    public required long Children { get; init; }

    public required long Handled { get; init; }

    public required long Dropped { get; init; }

    public required long Rejected { get; init; }

    public required long DeadLettered { get; init; }

    public required long Cancelled { get; init; }

    public required StopReport Stop { get; init; }

    public required TimeSpan DrainTimeout { get; init; }

    public required long CorrelatedChildren { get; init; }

    public required long ChildrenNotPublished { get; init; }

    public required long Retried { get; init; }

    public DeadLetter? ExampleDeadLetter { get; init; }

    public required string WalDirectory { get; init; }

    /// <summary>Unfinished events a previous run left in the log, re-handled by this run (not counted in <see cref="Published"/>).</summary>
    public long Recovered { get; init; }

    public required TimeSpan Elapsed { get; init; }

    public bool InvariantHolds => Published == Handled + Dropped + Rejected + DeadLettered + Cancelled;

    public IEnumerable<string> Lines()
    {
        yield return Invariant($"graceful shutdown ({(Interrupted ? "interrupted by Ctrl+C" : "run complete")}) after {Elapsed.TotalSeconds:F1} s");
        yield return Invariant($"  published        {Published,8}  ({Orders} orders, {Children} child invoices)");
        yield return Invariant($"  handled          {Handled,8}  ({Retried} retries along the way)");
        yield return Invariant($"  dropped          {Dropped,8}");
        yield return Invariant($"  rejected         {Rejected,8}");
        yield return Invariant($"  dead-lettered    {DeadLettered,8}  (poison orders, counted once each)");
        yield return Invariant($"  cancelled        {Cancelled,8}");
        yield return Invariant($"  drained          {Stop.Drained,8}  (finished during the shutdown)");
        yield return Invariant($"  left in the log  {Stop.LeftInLog,8}  (unfinished: handled when a bus next opens the log)");
        yield return Invariant($"  shutdown took    {Stop.Elapsed.TotalSeconds,8:F2} s (drain timeout {DrainTimeout.TotalSeconds:F1} s, {(Stop.Completed ? "drained in time" : "cancelled the rest")})");
        yield return Invariant($"  correlation      {CorrelatedChildren} of {Children} invoices carried their order's correlation and causation ids; {ChildrenNotPublished} not published (bus stopping)");
        if (ExampleDeadLetter is { } letter)
            yield return Invariant($"  dead letter      {letter.Subscription} after {letter.Attempts} attempts: {letter.Reason}");
        yield return Invariant($"  write-ahead log  {WalDirectory}");
        if (Recovered > 0)
            yield return Invariant($"  recovered        {Recovered,8}  (left unfinished by a previous run, re-handled first; not counted above)");
        yield return Invariant(
            $"invariant: published {Published} = handled {Handled} + dropped {Dropped} + rejected {Rejected} + dead-lettered {DeadLettered} + cancelled {Cancelled}: {(InvariantHolds ? "holds" : "DOES NOT HOLD")}");
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
