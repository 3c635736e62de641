using System.Globalization;

namespace Busbar.Cli.Demo;

/// <summary>The graceful-shutdown summary: where every published event ended, what the stop and the bursts did, where the log is.</summary>
internal sealed record DemoSummary
{
    /// <summary>Where a long line's continuation starts: under the values.</summary>
    private const int ValueColumn = 19;

    /// <summary>What interrupted the run (<c>Ctrl+C</c>, <c>SIGTERM</c>); null when it ran to the end.</summary>
    public string? InterruptedBy { get; init; }

    public required long Published { get; init; }

    public required long Orders { get; init; }

    public required long Children { get; init; }

    public required long Completed { get; init; }

    public required long Dropped { get; init; }

    public required long Rejected { get; init; }

    public required long DeadLettered { get; init; }

    public required long Cancelled { get; init; }

    public required StopReport Stop { get; init; }

    public required DemoSettings Settings { get; init; }

    public required IReadOnlyList<BurstReport> Bursts { get; init; }

    public required long CorrelatedChildren { get; init; }

    public required long ChildrenNotPublished { get; init; }

    /// <summary>Of <see cref="ChildrenNotPublished"/>, those the bus counted as published and rejected (see <see cref="DemoSnapshot.RejectedRacingStop"/>).</summary>
    public long RejectedRacingStop { get; init; }

    public required long Retried { get; init; }

    public DeadLetter? ExampleDeadLetter { get; init; }

    public required string WalDirectory { get; init; }

    /// <summary>Whether the log was a temporary directory; then <see cref="WalRemoveError"/> says whether removing it failed.</summary>
    public required bool WalIsTemporary { get; init; }

    public string? WalRemoveError { get; init; }

    /// <summary>Pending events a previous run left in the log, re-handled by this run (not counted in <see cref="Published"/>).</summary>
    public long Recovered { get; init; }

    public required TimeSpan Elapsed { get; init; }

    /// <summary>Events the bus finished per second over the run.</summary>
    public required double AverageThroughput { get; init; }

    public bool InvariantHolds => Published == Completed + Dropped + Rejected + DeadLettered + Cancelled;

    /// <summary>The summary, each line wrapped at spaces to <paramref name="width"/> (null: never wrapped).</summary>
    public IEnumerable<string> Lines(int? width = null) =>
        width is { } w ? RawLines().SelectMany(line => TextWrap.Wrap(line, w, ValueColumn)) : RawLines();

    private IEnumerable<string> RawLines()
    {
        yield return Invariant($"graceful shutdown ({(InterruptedBy is { } signal ? "interrupted by " + signal : "run complete")}) after {Elapsed.TotalSeconds:F1} s, {AverageThroughput:F0} events/s on average");
        yield return Invariant($"  published        {Published,8}  ({Orders} orders, {Children} child invoices)");
        yield return Invariant($"  completed        {Completed,8}  (every handler succeeded; {Retried} retries along the way)");
        yield return Invariant($"  dropped          {Dropped,8}");
        yield return Invariant($"  rejected         {Rejected,8}");
        yield return Invariant($"  dead-lettered    {DeadLettered,8}  (poison orders, counted once each)");
        yield return Invariant($"  cancelled        {Cancelled,8}");
        yield return Invariant($"  drained          {Stop.Drained,8}  (finished during the shutdown)");
        yield return Invariant($"  pending in log   {Stop.PendingInLog,8}  (pending: handled when a bus next opens the log)");
        yield return Invariant($"  shutdown took    {Stop.Elapsed.TotalSeconds,8:F2} s (drain timeout {Settings.DrainTimeout.TotalSeconds:F1} s, {(Stop.Completed ? "drained in time" : "cancelled the rest")})");
        var pace = Settings.Pace is { } p ? "; " + p.Describe() : "";
        yield return Invariant($"  pace             {Settings.Rate,8}  orders/s steady, queue capacity {Settings.Capacity}{pace}");
        yield return Invariant($"  bursts           {Bursts.Count,8}  of {Settings.BurstSize} orders at once, full-mode {DemoCommand.Spelling(Settings.FullMode)}");
        foreach (var burst in Bursts)
            yield return Invariant($"    burst {burst.Number} at {burst.At.TotalSeconds,4:F1} s  {burst.Effect}; {burst.Recovery}");
        yield return Invariant($"  correlation      {CorrelatedChildren} of {Children} invoices carried their order's correlation and causation ids");
        if (ChildrenNotPublished > 0)
            yield return Invariant($"  not published    {ChildrenNotPublished,8}  invoices billing tried to publish while the bus was stopping{(RejectedRacingStop > 0 ? $"; {RejectedRacingStop} raced the stop, and the bus counts them as published and rejected" : "")}");
        if (ExampleDeadLetter is { } letter)
            yield return Invariant($"  dead letter      {letter.SubscriptionName} after {letter.Attempts} attempts: {letter.ExceptionMessage}");
        if (!WalIsTemporary)
            yield return Invariant($"  write-ahead log  {WalDirectory}");
        else if (WalRemoveError is null)
            yield return Invariant($"  write-ahead log  {WalDirectory} (temporary: removed; --wal DIR keeps the log)");
        else
            yield return Invariant($"  write-ahead log  {WalDirectory} (temporary, but could not be removed: {WalRemoveError})");
        if (Recovered > 0)
            yield return Invariant($"  recovered        {Recovered,8}  (left pending by a previous run, re-handled first; not counted above)");
        yield return Invariant(
            $"invariant: published {Published} = completed {Completed} + dropped {Dropped} + rejected {Rejected} + dead-lettered {DeadLettered} + cancelled {Cancelled}: {(InvariantHolds ? "holds" : "DOES NOT HOLD")}");
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
