using System.Globalization;
using System.Text.Json;
using Busbar.Cli.Broker;

namespace Busbar.Cli.Distributed;

/// <summary>
/// The distributed demo's summary: each worker's counts, the kill, the events handled twice, what the broker holds as
/// dead letters, and the invariant published = handled + dead-lettered. Exit code 0 only when it holds.
/// </summary>
internal sealed record DistributedSummary
{
    /// <summary>Duplicates listed by id in the text summary; all of them in the JSON.</summary>
    private const int ListedDuplicates = 10;

    /// <summary>Where a long line's continuation starts: under the values.</summary>
    private const int ValueColumn = 14;

    public required DistributedRequest Request { get; init; }

    public required string Broker { get; init; }

    /// <summary>Where the run's events live on the broker, e.g. <c>keys busbar-demo-5f3a09c1:*</c>.</summary>
    public required string Namespace { get; init; }

    /// <summary>Why the run's namespace could not be removed from the broker after the run; null when it was.</summary>
    public string? NamespaceRemoveError { get; init; }

    public string? InterruptedBy { get; init; }

    public required TimeSpan Elapsed { get; init; }

    public required DistributedAccount Account { get; init; }

    public required IReadOnlyList<WorkerRow> Workers { get; init; }

    public KillReport? Kill { get; init; }

    /// <summary>Why publishing stopped early, if the broker refused a publish.</summary>
    public string? PublishError { get; init; }

    /// <summary>The event ids of the broker's dead letters in the run's namespace; null when they could not be read.</summary>
    public IReadOnlyList<Guid>? BrokerDeadLetters { get; init; }

    /// <summary>Whether the broker's dead letters are exactly the events the workers dead-lettered.</summary>
    public bool? BrokerAgrees => BrokerDeadLetters is { } ids ? ids.Count == Account.DeadLettered && ids.All(Account.DeadLetteredIds.Contains) : null;

    public bool Holds => Account.Holds && PublishError is null;

    public int ExitCode => Holds ? ExitCodes.Success : ExitCodes.Failure;

    /// <summary>The text summary; with a <paramref name="width"/> (a terminal), long lines wrap at spaces, indented under the values.</summary>
    public IEnumerable<string> Lines(int? width) =>
        width is { } w ? RawLines().SelectMany(line => TextWrap.Wrap(line, w, ValueColumn)) : RawLines();

    private IEnumerable<string> RawLines()
    {
        var a = Account;
        yield return "";
        yield return Invariant($"busbar demo on {Broker}: {Workers.Count} workers, {a.Orders} orders in {Elapsed.TotalSeconds:F1} s{(InterruptedBy is { } signal ? ", interrupted by " + signal : "")}; {Removal()}");
        foreach (var row in Workers)
        {
            var t = row.Tally;
            yield return Invariant(
                $"  worker {t.Number} (pid {row.Pid}): {row.State}; handled {t.Handled}, failed attempts {t.FailedAttempts}, dead-lettered {t.DeadLettered}, redelivered/claimed {t.Redelivered}");
        }

        if (Kill is { } kill)
            yield return Invariant($"killed:       worker {kill.Worker} (pid {kill.Pid}) with SIGKILL at {kill.At.TotalSeconds:F1} s, holding {kill.HeldUnsettled} unsettled events; the others received {Workers.Where(w => w.Tally.Number != kill.Worker).Sum(static w => w.Tally.Redelivered)} redelivered/claimed deliveries");
        if (PublishError is { } error)
            yield return "publishing:   " + error;
        yield return Invariant($"published:    {a.Published} events: {a.Orders} orders, {a.Invoices} invoices (billing's child events, one per order)");
        yield return a.Duplicates.Count == 0
            ? "duplicates:   none (no event was handled twice)"
            : Invariant($"duplicates:   {a.Duplicates.Count} events finished more than once (at-least-once: what the killed worker had not acknowledged came back): ")
              + string.Join("; ", a.Duplicates.Take(ListedDuplicates).Select(static d => Invariant($"{d.Name} {d.EventId} by workers {string.Join(',', d.Workers)}")))
              + (a.Duplicates.Count > ListedDuplicates ? Invariant($"; and {a.Duplicates.Count - ListedDuplicates} more (--json lists all)") : "");
        yield return BrokerDeadLetters is { } letters
            ? Invariant($"dead letters: {letters.Count} on the broker, {(BrokerAgrees == true ? "the same events the workers dead-lettered" : "NOT the events the workers dead-lettered")}")
            : "dead letters: could not be read from the broker";
        if (a.Missing.Count > 0)
            yield return Invariant($"missing:      {a.Missing.Count} published events no worker finished, e.g. {a.Missing[0]}");
        if (a.Unexpected.Count > 0)
            yield return Invariant($"unexpected:   {a.Unexpected.Count} events finished that the demo did not see published, e.g. {a.Unexpected[0]}");
        yield return Invariant($"invariant: published {a.Published} = handled {a.Handled} + dead-lettered {a.DeadLettered}: {(Holds ? "holds" : "DOES NOT HOLD")}");
    }

    public string Json() => BrokerJson.Document(w =>
    {
        var a = Account;
        w.WriteStartObject();
        w.WriteString("broker", Broker);
        w.WriteString("namespace", Namespace);
        w.WriteBoolean("namespaceRemoved", NamespaceRemoveError is null);
        w.WriteNumber("elapsedSeconds", Math.Round(Elapsed.TotalSeconds, 3));
        if (InterruptedBy is { } signal)
            w.WriteString("interruptedBy", signal);
        else
            w.WriteNull("interruptedBy");
        w.WriteNumber("published", a.Published);
        w.WriteNumber("orders", a.Orders);
        w.WriteNumber("invoices", a.Invoices);
        w.WriteNumber("handled", a.Handled);
        w.WriteNumber("deadLettered", a.DeadLettered);
        w.WriteBoolean("invariantHolds", Holds);
        w.WriteNumber("exitCode", ExitCode);
        WriteIds(w, "missing", a.Missing);
        WriteIds(w, "unexpected", a.Unexpected);
        w.WriteStartArray("duplicates");
        foreach (var d in a.Duplicates)
        {
            w.WriteStartObject();
            w.WriteString("eventId", d.EventId);
            w.WriteString("name", d.Name);
            w.WriteNumber("times", d.Workers.Count);
            w.WriteStartArray("workers");
            foreach (var worker in d.Workers)
                w.WriteNumberValue(worker);
            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        if (BrokerDeadLetters is { } letters)
        {
            w.WriteNumber("brokerDeadLetters", letters.Count);
            w.WriteBoolean("brokerDeadLettersMatch", BrokerAgrees == true);
        }
        else
        {
            w.WriteNull("brokerDeadLetters");
            w.WriteNull("brokerDeadLettersMatch");
        }

        if (PublishError is { } error)
            w.WriteString("publishError", error);
        else
            w.WriteNull("publishError");
        w.WritePropertyName("killed");
        if (Kill is { } kill)
        {
            w.WriteStartObject();
            w.WriteNumber("worker", kill.Worker);
            w.WriteNumber("pid", kill.Pid);
            w.WriteNumber("atSeconds", Math.Round(kill.At.TotalSeconds, 3));
            w.WriteNumber("heldUnsettled", kill.HeldUnsettled);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNullValue();
        }

        w.WriteStartArray("workers");
        foreach (var row in Workers)
        {
            var t = row.Tally;
            w.WriteStartObject();
            w.WriteNumber("worker", t.Number);
            w.WriteNumber("pid", row.Pid);
            w.WriteString("state", row.State);
            w.WriteBoolean("killed", Kill?.Worker == t.Number);
            w.WriteNumber("received", t.Received);
            w.WriteNumber("handled", t.Handled);
            w.WriteNumber("failedAttempts", t.FailedAttempts);
            w.WriteNumber("deadLettered", t.DeadLettered);
            w.WriteNumber("redelivered", t.Redelivered);
            w.WriteNumber("released", t.Released);
            w.WriteNumber("invoicesPublished", t.Children);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    });

    private string Removal() => NamespaceRemoveError is { } error
        ? $"the run's {Namespace} could not be removed from the broker: {error}"
        : $"the run's {Namespace} were removed from the broker afterwards";

    private static void WriteIds(Utf8JsonWriter w, string name, IReadOnlyList<Guid> ids)
    {
        w.WriteStartArray(name);
        foreach (var id in ids)
            w.WriteStringValue(id);
        w.WriteEndArray();
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
