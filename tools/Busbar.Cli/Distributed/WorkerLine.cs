using System.Globalization;

namespace Busbar.Cli.Distributed;

/// <summary>What a worker reports, one line each on its standard output.</summary>
internal enum WorkerLineKind
{
    /// <summary><c>ready</c>: subscribed to the group; the demo may start publishing.</summary>
    Ready,

    /// <summary><c>received &lt;id&gt; &lt;name&gt; &lt;delivery&gt;</c>: a delivery reached the worker's bus.</summary>
    Received,

    /// <summary><c>handled &lt;id&gt; &lt;name&gt; &lt;delivery&gt;</c>: every handler succeeded; written before the ack.</summary>
    Handled,

    /// <summary><c>dead &lt;id&gt; &lt;name&gt; &lt;delivery&gt; &lt;reason&gt;</c>: a handler failed its last attempt; written before the terminate.</summary>
    DeadLettered,

    /// <summary><c>released &lt;id&gt; &lt;name&gt; &lt;delivery&gt;</c>: the worker stopped before the event finished and gave it back.</summary>
    Released,

    /// <summary><c>child &lt;invoice id&gt; &lt;order id&gt;</c>: billing is about to publish an invoice; written before the publish.</summary>
    Child,

    /// <summary><c>undecodable &lt;delivery id&gt; &lt;reason&gt;</c>: not a readable demo event; terminated to the dead letters.</summary>
    Undecodable,

    /// <summary><c>stats &lt;retried&gt; &lt;failed&gt;</c>: the worker's bus counters (handler retries, failed events), now and then.</summary>
    Statistics,
}

/// <summary>
/// One line of the worker protocol (<see cref="FailedAttempts"/> is only set on <see cref="WorkerLineKind.Statistics"/>:
/// the bus's retries plus failed events). A worker writes a line before it acts on the broker (ack, terminate, publish), so a
/// worker killed in between has said more than it did, never less: its event comes back and is handled again (a
/// duplicate, which the summary lists), and nothing a worker finished goes unreported.
/// </summary>
internal sealed record WorkerLine(WorkerLineKind Kind, Guid EventId, string Name, int DeliveryCount, long FailedAttempts, string Text)
{
    public static string Ready() => "ready";

    public static string Received(Guid id, string name, int delivery) => Invariant($"received {id} {name} {delivery}");

    public static string Handled(Guid id, string name, int delivery) => Invariant($"handled {id} {name} {delivery}");

    public static string DeadLettered(Guid id, string name, int delivery, string reason) =>
        Invariant($"dead {id} {name} {delivery} {OneLine(reason)}");

    public static string Statistics(long retried, long failed) => Invariant($"stats {retried} {failed}");

    public static string Released(Guid id, string name, int delivery) => Invariant($"released {id} {name} {delivery}");

    public static string Child(Guid invoiceId, Guid orderId) => Invariant($"child {invoiceId} {orderId}");

    public static string Undecodable(string deliveryId, string reason) => $"undecodable {OneLine(deliveryId)} {OneLine(reason)}";

    /// <summary>Reads a line; null for anything else (a worker's stray output is ignored, not fatal).</summary>
    public static WorkerLine? Parse(string line)
    {
        var parts = line.Split(' ', 5);
        switch (parts[0])
        {
            case "ready" when parts.Length == 1:
                return new WorkerLine(WorkerLineKind.Ready, Guid.Empty, "", 0, 0, "");
            case "received" when parts.Length == 4 && Event(parts, out var id, out var delivery):
                return new WorkerLine(WorkerLineKind.Received, id, parts[2], delivery, 0, "");
            case "released" when parts.Length == 4 && Event(parts, out var id, out var delivery):
                return new WorkerLine(WorkerLineKind.Released, id, parts[2], delivery, 0, "");
            case "handled" when parts.Length == 4 && Event(parts, out var id, out var delivery):
                return new WorkerLine(WorkerLineKind.Handled, id, parts[2], delivery, 0, "");
            case "dead" when parts.Length == 5 && Event(parts, out var id, out var delivery):
                return new WorkerLine(WorkerLineKind.DeadLettered, id, parts[2], delivery, 0, parts[4]);
            case "stats" when parts.Length == 3 && Count(parts[1], out var retried) && Count(parts[2], out var failed):
                return new WorkerLine(WorkerLineKind.Statistics, Guid.Empty, "", 0, (long)retried + failed, "");
            case "child" when parts.Length == 3 && Guid.TryParse(parts[1], CultureInfo.InvariantCulture, out var invoice) && Guid.TryParse(parts[2], CultureInfo.InvariantCulture, out var order):
                return new WorkerLine(WorkerLineKind.Child, invoice, "invoices.issued", 0, 0, order.ToString());
            case "undecodable" when parts.Length >= 2:
                return new WorkerLine(WorkerLineKind.Undecodable, Guid.Empty, "", 0, 0, line["undecodable ".Length..]);
            default:
                return null;
        }
    }

    private static bool Event(string[] parts, out Guid id, out int delivery)
    {
        delivery = 0;
        return Guid.TryParse(parts[1], CultureInfo.InvariantCulture, out id) && Count(parts[3], out delivery);
    }

    private static bool Count(string text, out int value) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
