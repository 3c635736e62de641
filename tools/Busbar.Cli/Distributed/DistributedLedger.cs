namespace Busbar.Cli.Distributed;

/// <summary>
/// Where every event of a distributed run ended, from the demo's publishes and the workers' reports: what was published
/// (the orders the broker accepted, and every invoice a worker announced), which events were handled or dead-lettered and
/// by which worker, how often, and each worker's counts for the view. Thread-safe: one reader per worker feeds it.
/// </summary>
internal sealed class DistributedLedger
{
    private readonly Lock _gate = new();
    private readonly HashSet<Guid> _orders = [];
    private readonly HashSet<Guid> _invoices = [];
    private readonly Dictionary<Guid, List<int>> _handled = [];
    private readonly Dictionary<Guid, List<int>> _deadLettered = [];
    private readonly Dictionary<Guid, string> _names = [];
    private readonly WorkerTally[] _workers;
    private long _unsettled;

    public DistributedLedger(int workers)
    {
        _workers = new WorkerTally[workers];
        for (var i = 0; i < workers; i++)
            _workers[i] = new WorkerTally(i + 1);
    }

    /// <summary>Published events not yet handled or dead-lettered by any worker.</summary>
    public long Unsettled
    {
        get
        {
            lock (_gate)
                return _unsettled;
        }
    }

    public long Orders
    {
        get
        {
            lock (_gate)
                return _orders.Count;
        }
    }

    /// <summary>Orders the broker accepted.</summary>
    public void Published(IEnumerable<Guid> orders)
    {
        lock (_gate)
        {
            foreach (var id in orders)
                AddPublished(_orders, id, "orders.placed");
        }
    }

    /// <summary>Applies one line of worker <paramref name="worker"/> (1-based).</summary>
    public void Apply(int worker, WorkerLine line)
    {
        lock (_gate)
        {
            var tally = _workers[worker - 1];
            switch (line.Kind)
            {
                case WorkerLineKind.Ready:
                    tally.Ready = true;
                    break;
                case WorkerLineKind.Received:
                    tally.Received++;
                    if (line.DeliveryCount > 1)
                        tally.Redelivered++;
                    break;
                case WorkerLineKind.Handled:
                    tally.Handled++;
                    Settle(_handled, worker, line);
                    break;
                case WorkerLineKind.Statistics:
                    tally.FailedAttempts = line.FailedAttempts;
                    break;
                case WorkerLineKind.DeadLettered:
                    tally.DeadLettered++;
                    tally.LastDeadLetterReason = line.Text;
                    Settle(_deadLettered, worker, line);
                    break;
                case WorkerLineKind.Released:
                    tally.Released++;
                    break;
                case WorkerLineKind.Child:
                    tally.Children++;
                    AddPublished(_invoices, line.EventId, line.Name);
                    break;
                case WorkerLineKind.Undecodable:
                    tally.Undecodable++;
                    break;
            }
        }
    }

    /// <summary>A copy of each worker's counts.</summary>
    public IReadOnlyList<WorkerTally> Workers()
    {
        lock (_gate)
            return [.. _workers.Select(static w => w with { })];
    }

    /// <summary>The accounting once every worker has stopped and its output has been read to the end.</summary>
    public DistributedAccount Account()
    {
        lock (_gate)
        {
            var published = new HashSet<Guid>(_orders);
            published.UnionWith(_invoices);
            var settled = new HashSet<Guid>(_handled.Keys);
            settled.UnionWith(_deadLettered.Keys);
            var duplicates = new List<DuplicateEvent>();
            foreach (var id in settled)
            {
                var by = new List<int>();
                if (_handled.TryGetValue(id, out var handledBy))
                    by.AddRange(handledBy);
                if (_deadLettered.TryGetValue(id, out var deadBy))
                    by.AddRange(deadBy);
                if (by.Count > 1)
                    duplicates.Add(new DuplicateEvent(id, _names.GetValueOrDefault(id, "?"), [.. by]));
            }

            return new DistributedAccount
            {
                Orders = _orders.Count,
                Invoices = _invoices.Count,
                Handled = _handled.Count,
                DeadLettered = _deadLettered.Count,
                HandledAndDeadLettered = _handled.Keys.Count(_deadLettered.ContainsKey),
                Missing = [.. published.Where(id => !settled.Contains(id)).Order()],
                Unexpected = [.. settled.Where(id => !published.Contains(id)).Order()],
                Duplicates = [.. duplicates.OrderBy(static d => d.EventId)],
                DeadLetteredIds = [.. _deadLettered.Keys],
            };
        }
    }

    private void AddPublished(HashSet<Guid> set, Guid id, string name)
    {
        if (!set.Add(id))
            return;
        _names.TryAdd(id, name);
        if (!_handled.ContainsKey(id) && !_deadLettered.ContainsKey(id))
            _unsettled++;
    }

    private void Settle(Dictionary<Guid, List<int>> outcome, int worker, WorkerLine line)
    {
        _names.TryAdd(line.EventId, line.Name);
        var first = !_handled.ContainsKey(line.EventId) && !_deadLettered.ContainsKey(line.EventId);
        if (!outcome.TryGetValue(line.EventId, out var by))
            outcome[line.EventId] = by = [];
        by.Add(worker);
        if (first && (_orders.Contains(line.EventId) || _invoices.Contains(line.EventId)))
            _unsettled--;
    }
}
