using Busbar.Cli.Distributed;

namespace Busbar.Cli.Tests.Distributed;

/// <summary>The accounting behind the distributed demo's invariant, fed the worker protocol's lines directly.</summary>
public sealed class DistributedLedgerTests
{
    private static readonly Guid s_order = Guid.CreateVersion7();
    private static readonly Guid s_invoice = DemoNamespace.InvoiceId(s_order);

    [Fact]
    public void Account_OrderAndInvoiceHandled_Holds()
    {
        var ledger = new DistributedLedger(workers: 2);
        ledger.Published([s_order]);
        Apply(ledger, 1, WorkerLine.Received(s_order, "orders.placed", 1));
        Apply(ledger, 1, WorkerLine.Child(s_invoice, s_order));
        Apply(ledger, 1, WorkerLine.Handled(s_order, "orders.placed", 1));
        Apply(ledger, 2, WorkerLine.Handled(s_invoice, "invoices.issued", 1));

        var account = ledger.Account();

        Assert.True(account.Holds);
        Assert.Equal((1, 1, 2, 0), (account.Orders, account.Invoices, account.Handled, account.DeadLettered));
        Assert.Equal(0, ledger.Unsettled);
        Assert.Equal(0, ledger.Workers()[0].FailedAttempts);
    }

    [Fact]
    public void Account_InvoiceHandledBeforeItsChildLineIsRead_StillCountedOnceAndSettled()
    {
        // Each worker's output is read by its own reader: worker 2's "handled" can be applied before worker 1's "child".
        var ledger = new DistributedLedger(workers: 2);
        ledger.Published([s_order]);
        Apply(ledger, 2, WorkerLine.Handled(s_invoice, "invoices.issued", 1));
        Apply(ledger, 1, WorkerLine.Handled(s_order, "orders.placed", 1));
        Assert.Equal(0, ledger.Unsettled);
        Apply(ledger, 1, WorkerLine.Child(s_invoice, s_order));

        Assert.Equal(0, ledger.Unsettled);
        Assert.True(ledger.Account().Holds);
    }

    [Fact]
    public void Account_EventHandledByTwoWorkers_CountedOnceAndListedAsDuplicate()
    {
        var ledger = new DistributedLedger(workers: 2);
        ledger.Published([s_order]);
        Apply(ledger, 1, WorkerLine.Child(s_invoice, s_order));
        Apply(ledger, 1, WorkerLine.Handled(s_order, "orders.placed", 1));

        // Worker 1 died before its ack: the order came back to worker 2, whose billing announced the same invoice id.
        Apply(ledger, 2, WorkerLine.Received(s_order, "orders.placed", 2));
        Apply(ledger, 2, WorkerLine.Child(s_invoice, s_order));
        Apply(ledger, 2, WorkerLine.Handled(s_order, "orders.placed", 2));
        Apply(ledger, 2, WorkerLine.Handled(s_invoice, "invoices.issued", 1));

        var account = ledger.Account();

        Assert.True(account.Holds);
        Assert.Equal((1, 1, 2), (account.Orders, account.Invoices, account.Handled));
        var duplicate = Assert.Single(account.Duplicates);
        Assert.Equal(s_order, duplicate.EventId);
        Assert.Equal([1, 2], duplicate.Workers);
        Assert.Equal(1, ledger.Workers()[1].Redelivered);
    }

    [Fact]
    public void Account_PublishedButNeverFinished_IsMissingAndDoesNotHold()
    {
        var ledger = new DistributedLedger(workers: 1);
        ledger.Published([s_order]);
        Apply(ledger, 1, WorkerLine.Received(s_order, "orders.placed", 1));

        var account = ledger.Account();

        Assert.False(account.Holds);
        Assert.Equal([s_order], account.Missing);
        Assert.Equal(1, ledger.Unsettled);
        Assert.Equal(1, ledger.Workers()[0].InFlight);
    }

    [Fact]
    public void Account_FinishedButNeverPublished_IsUnexpectedAndDoesNotHold()
    {
        var ledger = new DistributedLedger(workers: 1);
        Apply(ledger, 1, WorkerLine.Handled(s_order, "orders.placed", 1));

        var account = ledger.Account();

        Assert.False(account.Holds);
        Assert.Equal([s_order], account.Unexpected);
    }

    [Fact]
    public void Account_DeadLettered_CountsOnTheOtherSideOfTheInvariant()
    {
        var ledger = new DistributedLedger(workers: 1);
        ledger.Published([s_order]);
        Apply(ledger, 1, WorkerLine.DeadLettered(s_order, "orders.placed", 1, "inventory Failed after 3 attempts: SKU POISON-1\nis not in the catalogue"));

        var account = ledger.Account();

        Assert.True(account.Holds);
        Assert.Equal((0, 1), (account.Handled, account.DeadLettered));
        Assert.Equal("inventory Failed after 3 attempts: SKU POISON-1 is not in the catalogue", ledger.Workers()[0].LastDeadLetterReason);
    }

    [Fact]
    public void Apply_Statistics_SetsTheWorkersFailedAttemptsToItsBusCounters()
    {
        var ledger = new DistributedLedger(workers: 1);
        Apply(ledger, 1, WorkerLine.Statistics(retried: 5, failed: 1));
        Apply(ledger, 1, WorkerLine.Statistics(retried: 9, failed: 2));

        Assert.Equal(11, ledger.Workers()[0].FailedAttempts);
    }

    [Theory]
    [InlineData("")]
    [InlineData("hello")]
    [InlineData("handled not-a-guid orders.placed 1")]
    [InlineData("stats 1")]
    [InlineData("received 0193d6c2-0000-7000-8000-000000000000 orders.placed x")]
    [InlineData("ready now")]
    public void Parse_NotAProtocolLine_IsIgnored(string line) => Assert.Null(WorkerLine.Parse(line));

    [Fact]
    public void InvoiceId_SameOrder_SameIdAndNotTheOrders()
    {
        Assert.Equal(DemoNamespace.InvoiceId(s_order), DemoNamespace.InvoiceId(s_order));
        Assert.NotEqual(s_order, s_invoice);
        Assert.NotEqual(s_invoice, DemoNamespace.InvoiceId(Guid.CreateVersion7()));
    }

    private static void Apply(DistributedLedger ledger, int worker, string line)
    {
        var parsed = WorkerLine.Parse(line);
        Assert.NotNull(parsed);
        ledger.Apply(worker, parsed);
    }
}
