using System.Text;

namespace Busbar.Benchmarks.Driver;

/// <summary>
/// (c) Overload: far more events than the queue holds, into a handler slower than the producer.
/// Goal for Busbar: peak working set grows by at most 50 MB and handled + dropped + rejected =
/// published in every mode.
/// </summary>
public static class OverloadScenario
{
    public const long GrowthGoal = 50L * 1000 * 1000;

    public static string Report(DriverSettings settings, IReadOnlyList<OverloadResult> results)
    {
        var table = new MarkdownTable("Row", "Full mode", "Published", "Handled", "Dropped", "Rejected",
            "Accounted", "Working set before", "Peak working-set growth", "Elapsed s", "Growth ≤ 50 MB");
        foreach (var r in results)
        {
            table.Add(
                r.Row,
                r.Mode,
                MarkdownTable.Count(r.Published) + (r.CutShort ? " (cut short)" : string.Empty),
                MarkdownTable.Count(r.Handled),
                MarkdownTable.Count(r.Dropped),
                MarkdownTable.Count(r.Rejected),
                r.Accounted ? "yes" : "**no**",
                MarkdownTable.MiB(r.BaselineWorkingSet),
                MarkdownTable.MiB(r.PeakGrowth),
                MarkdownTable.Number(r.Elapsed.TotalSeconds, "0.00"),
                r.PeakGrowth <= GrowthGoal ? "yes" : "**no**");
        }

        var text = new StringBuilder();
        text.AppendLine("## (c) Overload: slow handler, capacity 10,000");
        text.AppendLine();
        text.AppendLine($"{MarkdownTable.Count(settings.OverloadEvents)} events per row from one producer as fast as it can go; " +
            $"the handler spins {settings.SlowHandlerWork.TotalMicroseconds:0} µs per event. Growth is the peak of `Environment.WorkingSet` " +
            "(sampled every 2 ms) minus the working set after an aggressive, compacting GC just before the row; the overload rows run first in the driver. Dropped and rejected come from the " +
            "bus's statistics (the channel rows count drops with `itemDropped`); Reject's producer catches `BusFullException`.");
        text.AppendLine();
        text.Append(table);
        text.AppendLine();
        return text.ToString();
    }
}
