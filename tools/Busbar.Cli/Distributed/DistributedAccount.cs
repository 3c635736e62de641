namespace Busbar.Cli.Distributed;

/// <summary>An event handled (or dead-lettered) more than once: by which workers, in report order.</summary>
internal sealed record DuplicateEvent(Guid EventId, string Name, IReadOnlyList<int> Workers);

/// <summary>The run's accounting: published = handled + dead-lettered when <see cref="Holds"/>.</summary>
internal sealed record DistributedAccount
{
    public required long Orders { get; init; }

    /// <summary>Invoices billing published (distinct ids: a re-published invoice is the same event).</summary>
    public required long Invoices { get; init; }

    public long Published => Orders + Invoices;

    /// <summary>Distinct events every handler of which succeeded, on some worker.</summary>
    public required long Handled { get; init; }

    /// <summary>Distinct events a worker dead-lettered after a handler's last attempt failed.</summary>
    public required long DeadLettered { get; init; }

    /// <summary>Events both handled and dead-lettered (the pipeline is deterministic, so never, unless something is wrong).</summary>
    public required long HandledAndDeadLettered { get; init; }

    /// <summary>Published events no worker finished.</summary>
    public required IReadOnlyList<Guid> Missing { get; init; }

    /// <summary>Events a worker finished that the demo never saw published.</summary>
    public required IReadOnlyList<Guid> Unexpected { get; init; }

    public required IReadOnlyList<DuplicateEvent> Duplicates { get; init; }

    public required IReadOnlyCollection<Guid> DeadLetteredIds { get; init; }

    public bool Holds => Published == Handled + DeadLettered && Missing.Count == 0 && Unexpected.Count == 0 && HandledAndDeadLettered == 0;
}
