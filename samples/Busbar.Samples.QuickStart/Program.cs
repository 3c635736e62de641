// The README's "API at a glance", runnable: every snippet there is copied from this file.
// Run: dotnet run --project samples/Busbar.Samples.QuickStart
using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using Busbar;

await PublishAndAwaitAsync();
await InlineAsync();
await BackpressureAsync();
await TiersAsync();
await OrderingAsync();
await RetriesAndDeadLettersAsync();
await ChildEventsAsync();
await TimeoutsAsync();
await FirstResultAsync();
await WaitForAsync();
await ForwardingAsync();
await ValidationAsync();
await MiddlewareAsync();
await BatchAsync();
await StopAsync();

// ---------------------------------------------------------------- subscribe, publish, await

static async Task PublishAndAwaitAsync()
{
    Section("subscribe by type and pattern, publish, await the outcome");
    await using var bus = EventBus.Create();

    // By type, polymorphic: IOrderEvent receives OrderPlaced and OrderShipped.
    bus.Subscribe<IOrderEvent>(e => Console.WriteLine($"order event {e.OrderId}"));

    // By pattern: '*' is one segment, a trailing '**' one or more, '*' alone every event.
    bus.Subscribe("orders.*", (e, ctx) => Console.WriteLine($"{ctx.Name} ({e.GetType().Name})"));

    // The full shape: payload, envelope, cancellation token.
    bus.Subscribe<OrderPlaced>(async (order, ctx, ct) => await Task.Delay(10, ct));

    EventOutcome outcome = await bus.PublishAndWaitAsync(new OrderPlaced(42, 99.50m)); // queued, then waits for the handlers
    Console.WriteLine($"{outcome.Status}: {outcome.Handlers.Count} handlers");          // Completed: 3 handlers

    // Two steps, when you want the handle: it returns once queued.
    EventHandle handle = await bus.PublishAsync(new OrderPlaced(43, 5m));
    EventOutcome later = await handle.WaitAsync(TimeSpan.FromSeconds(5)); // TimeoutException if not done by then; the event goes on
    EventHandle other = await bus.PublishAsync(new OrderPlaced(44, 5m));
    EventOutcome[] both = await Task.WhenAll(handle.AsTask(), other.AsTask());
}

// ---------------------------------------------------------------- inline dispatch

static async Task InlineAsync()
{
    Section("inline dispatch");
    await using var bus = EventBus.Create();
    bus.Subscribe<OrderPlaced>(o => Console.WriteLine($"inline {o.OrderId}"));
    bus.Subscribe<OrderPlaced, decimal>(o => o.Total * 0.2m); // a handler with a result

    // On the caller, no queue; throws the handler's exception after every handler ran.
    await bus.SendAsync(new OrderPlaced(1, 10m));

    // The same, returning the outcome instead of throwing.
    EventOutcome outcome = await bus.InvokeAsync(new OrderPlaced(2, 50m));
    Console.WriteLine($"tax {outcome.FirstResult<decimal>()}"); // tax 10.0

    // Hot paths: take a sender once and keep it (or inject EventSender<OrderPlaced>); same semantics, cheaper per send.
    EventSender<OrderPlaced> orders = bus.GetSender<OrderPlaced>();
    await orders.SendAsync(new OrderPlaced(3, 10m));
}

// ---------------------------------------------------------------- backpressure

static async Task BackpressureAsync()
{
    Section("backpressure");
    await using var bus = EventBus.Create(new EventBusOptions
    {
        Capacity = 2,
        FullMode = BusFullMode.Reject, // Wait (default), Reject, DropNewest, DropOldest
        OnEventShed = args => Console.WriteLine($"{args.Status}: {args.Context.Name}"),
    });
    var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    bus.Subscribe<OrderPlaced>(async (_, _, _) =>
    {
        started.TrySetResult();
        await gate.Task; // hold the worker
    });

    await bus.PublishAsync(new OrderPlaced(1, 1m));
    await started.Task;                             // order 1 is running, the queue is empty
    await bus.PublishAsync(new OrderPlaced(2, 1m));
    await bus.PublishAsync(new OrderPlaced(3, 1m)); // the queue now holds 2 = Capacity

    try
    {
        await bus.PublishAsync(new OrderPlaced(4, 1m));
    }
    catch (BusFullException ex)
    {
        Console.WriteLine(ex.Message);
    }

    // Never waits, whatever the FullMode: false when the queue is full.
    if (!bus.TryPublish(new OrderPlaced(5, 1m), out EventHandle refused))
        Console.WriteLine($"TryPublish: {refused.Status}"); // Rejected

    gate.SetResult();
}

// ---------------------------------------------------------------- handler tiers

static async Task TiersAsync()
{
    Section("priority tiers, parallel within a tier");
    await using var bus = EventBus.Create(new EventBusOptions { HandlerConcurrency = HandlerConcurrency.Parallel });

    bus.Subscribe<OrderPlaced>(o => Console.WriteLine("validate"), new SubscriptionOptions { Name = "validate", Priority = 100 });
    bus.Subscribe<OrderPlaced>(async (o, _, ct) =>
    {
        await Task.Delay(20, ct);
        Console.WriteLine("orders-view");
    }, new SubscriptionOptions { Name = "orders-view", Priority = 50 });
    bus.Subscribe<OrderPlaced>(async (o, _, ct) =>
    {
        await Task.Delay(20, ct);
        Console.WriteLine("search-index");
    }, new SubscriptionOptions { Name = "search-index", Priority = 50 });
    bus.Subscribe<OrderPlaced>(o => Console.WriteLine("email"), new SubscriptionOptions { Name = "email" }); // Priority 0

    // validate, then orders-view and search-index at the same time, then email.
    await bus.PublishAndWaitAsync(new OrderPlaced(3, 20m));
}

// ---------------------------------------------------------------- ordering

static async Task OrderingAsync()
{
    Section("event priority and ordering keys");
    await using var bus = EventBus.Create(new EventBusOptions { MaxConcurrentEvents = 4 });
    bus.Subscribe<OrderShipped>(async (e, ctx, ct) =>
    {
        await Task.Delay(5, ct);
        Console.WriteLine($"shipped {e.OrderId} (key {ctx.OrderingKey})");
    });

    // Up to 4 events at a time, but the two events of customer-17 run one after the other, in order.
    var first = await bus.PublishAsync(new OrderShipped(10), new PublishOptions { OrderingKey = "customer-17" });
    var second = await bus.PublishAsync(new OrderShipped(11), new PublishOptions { OrderingKey = "customer-17" });
    var urgent = await bus.PublishAsync(new OrderShipped(12), new PublishOptions { Priority = 10 }); // dequeued before lower priorities

    await first;
    await second;
    await urgent;
}

// ---------------------------------------------------------------- retries and dead letters

static async Task RetriesAndDeadLettersAsync()
{
    Section("retries, dead letters, re-drive");
    await using var bus = EventBus.Create();
    var inventoryUp = false;
    bus.Subscribe<OrderPlaced>((order, ctx, _) =>
    {
        if (!inventoryUp)
            throw new IOException($"inventory down (attempt {ctx.Attempt})");
        Console.WriteLine($"reserved stock for {order.OrderId} on attempt {ctx.Attempt}");
        return ValueTask.CompletedTask;
    }, new SubscriptionOptions
    {
        Name = "inventory",
        Retry = RetryPolicy.Exponential(maxAttempts: 3, delay: TimeSpan.FromMilliseconds(10)) with { ShouldRetry = ex => ex is IOException },
    });

    EventOutcome outcome = await bus.PublishAndWaitAsync(new OrderPlaced(5, 30m));
    Console.WriteLine($"{outcome.Status} after {outcome.Handlers[0].Attempts} attempts"); // Failed after 3 attempts

    DeadLetter letter = bus.DeadLetters.List()[0];
    Console.WriteLine($"dead letter: {letter.SubscriptionName}, {letter.ExceptionType}: {letter.ExceptionMessage}");

    inventoryUp = true;
    EventOutcome redriven = await bus.DeadLetters.RedriveAsync(letter.Id); // runs on attempt 4
    Console.WriteLine($"re-driven: {redriven.Status}, {bus.DeadLetters.Count} dead letters left");

    // Queries select by subscription, event name or pattern, exception type and time; re-drive, purge or count them.
    int purged = bus.DeadLetters.Purge(new DeadLetterQuery { EventName = "orders.*", ExceptionType = "IOException", Since = DateTimeOffset.UtcNow.AddHours(-1) });
}

// ---------------------------------------------------------------- child events, correlation

static async Task ChildEventsAsync()
{
    Section("child events, correlation, queue jump");
    await using var bus = EventBus.Create(); // MaxConcurrentEvents = 1: one event at a time
    bus.Subscribe<OrderPlaced>(async (order, ctx, ct) =>
    {
        // Published from a handler: same CorrelationId, CausationId = this event's id.
        EventHandle invoice = await bus.PublishAsync(new InvoiceIssued(order.OrderId), cancellationToken: ct);
        await invoice; // queue jump: the invoice is handled now, no deadlock on a serial bus
    });
    bus.Subscribe<InvoiceIssued>((invoice, ctx) =>
        Console.WriteLine($"invoice: correlation {ctx.CorrelationId}, caused by {ctx.CausationId}"));

    EventHandle order = await bus.PublishAsync(new OrderPlaced(6, 12m));
    EventOutcome outcome = await order;
    Console.WriteLine($"order {order.EventId} published {outcome.ChildEventIds.Count} child event");
}

// ---------------------------------------------------------------- timeouts

static async Task TimeoutsAsync()
{
    Section("timeouts and deadlines");
    await using var bus = EventBus.Create(new EventBusOptions { HandlerTimeout = TimeSpan.FromSeconds(30) }); // bus default
    bus.Subscribe<OrderPlaced>(
        async (_, _, ct) => await Task.Delay(Timeout.Infinite, ct),   // honours its token
        new SubscriptionOptions { Name = "stuck", HandlerTimeout = TimeSpan.FromMilliseconds(50) }); // per attempt

    // Timeout: a hard deadline for the whole event; HandlerTimeout: per attempt where the subscription sets none.
    var options = new PublishOptions { DeadlineAfter = TimeSpan.FromSeconds(2), HandlerTimeout = TimeSpan.FromSeconds(1) };
    EventOutcome outcome = await bus.PublishAndWaitAsync(new OrderPlaced(7, 1m), options);
    Console.WriteLine($"{outcome.Status}: {outcome.Handlers[0].Exception?.Message}"); // TimedOut: ... 50 ms
}

// ---------------------------------------------------------------- completion First, outcomes

static async Task FirstResultAsync()
{
    Section("completion First, results");
    await using var bus = EventBus.Create(new EventBusOptions
    {
        HandlerConcurrency = HandlerConcurrency.Parallel,
        Completion = CompletionMode.First, // the first success wins; the others are cancelled
    });
    bus.Subscribe<QuoteRequested, decimal>(async (q, _, ct) =>
    {
        await Task.Delay(5_000, ct); // cancelled when the fast quote wins
        return 12m;
    }, new SubscriptionOptions { Name = "slow-carrier" });
    bus.Subscribe<QuoteRequested, decimal>((q, _, _) => ValueTask.FromResult(9.5m), new SubscriptionOptions { Name = "fast-carrier" });

    EventOutcome outcome = await bus.PublishAndWaitAsync(new QuoteRequested("parcel"));
    Console.WriteLine($"quote {outcome.FirstResult<decimal>()}");          // 9.5
    foreach (HandlerResult h in outcome.Handlers)
        Console.WriteLine($"  {h.SubscriptionName}: {h.Status} in {h.Duration.TotalMilliseconds:F0} ms"); // Cancelled, Succeeded
    outcome.ThrowIfFailed(); // no-op: nothing failed
}

// ---------------------------------------------------------------- waiting

static async Task WaitForAsync()
{
    Section("WaitForAsync");
    await using var bus = EventBus.Create();
    await bus.PublishAsync(new OrderShipped(8));

    // Published before the call, still found: the wait looks back in the bounded history first.
    EventMatch<OrderShipped>? shipped = await bus.WaitForAsync<OrderShipped>((e, _) => e.OrderId == 8, TimeSpan.FromSeconds(5));
    Console.WriteLine(shipped is { } match ? $"found order {match.Event.OrderId}, event {match.Context.EventId}" : "timed out");

    EventMatch<object>? never = await bus.WaitForAsync("orders.cancelled", TimeSpan.FromMilliseconds(50));
    Console.WriteLine(never is null ? "no orders.cancelled within 50 ms" : "found");
}

// ---------------------------------------------------------------- forwarding

static async Task ForwardingAsync()
{
    Section("forwarding between buses");
    await using var orders = EventBus.Create(new EventBusOptions { Name = "orders" });
    await using var audit = EventBus.Create(new EventBusOptions { Name = "audit" });
    audit.Subscribe("orders.**", (e, ctx) => Console.WriteLine($"audit saw {ctx.Name}, path {string.Join(" > ", ctx.Path)}"));

    using ISubscription forwarding = orders.ForwardTo(audit, "orders.**", new ForwardOptions { WaitForTarget = true });
    await orders.PublishAndWaitAsync(new OrderPlaced(9, 1m)); // completes after audit's handlers too
}

// ---------------------------------------------------------------- validation

static async Task ValidationAsync()
{
    Section("validation at publish");
    await using var bus = new EventBusBuilder()
        .UseDataAnnotations()                     // opt-in: [Required], [Range], IValidatableObject...
        .AddValidator(new NoDisposableDomains()) // IEventValidator<SignedUp>
        .Build();

    try
    {
        await bus.PublishAsync(new SignedUp("not-an-email", 12));
    }
    catch (EventValidationException ex)
    {
        Console.WriteLine(ex.Message); // Event 'customers.signed-up' is invalid: Email: ...; Age: ...
    }

    Console.WriteLine($"published {bus.GetStatistics().Published}"); // 0: nothing queued or counted
}

// ---------------------------------------------------------------- middleware

static async Task MiddlewareAsync()
{
    Section("middleware around every handler");
    await using var bus = new EventBusBuilder()
        .Use(new TimingMiddleware())                 // every event; registered first, so outermost
        .Use<IOrderEvent>((order, invocation, next) => // events assignable to IOrderEvent only
            order.OrderId < 0 ? ValueTask.CompletedTask : next(invocation)) // not calling next skips the handler
        .Build();
    bus.Subscribe<OrderPlaced>(o => Console.WriteLine($"billing order {o.OrderId}"), new SubscriptionOptions { Name = "billing" });

    await bus.PublishAndWaitAsync(new OrderPlaced(10, 5m)); // billing order 10, then: billing on orders.placed: 0.1 ms
    EventOutcome skipped = await bus.PublishAndWaitAsync(new OrderPlaced(-1, 5m));
    Console.WriteLine($"{skipped.Handlers[0].SubscriptionName}: {skipped.Handlers[0].Status}"); // billing: Skipped
}

// ---------------------------------------------------------------- batches

static async Task BatchAsync()
{
    Section("batch publish");
    await using var bus = EventBus.Create();
    var count = 0;
    bus.Subscribe<OrderShipped>(_ => Interlocked.Increment(ref count));

    IReadOnlyList<EventHandle> handles = await bus.PublishBatchAsync(Enumerable.Range(100, 50).Select(id => new OrderShipped(id)));
    await handles[^1]; // FIFO: the last one completes last on a serial bus
    Console.WriteLine($"{handles.Count} published, {Volatile.Read(ref count)} handled");
}

// ---------------------------------------------------------------- shutdown

static async Task StopAsync()
{
    Section("graceful shutdown");
    var bus = EventBus.Create(new EventBusOptions { DrainTimeout = TimeSpan.FromSeconds(5) });
    bus.Subscribe<OrderShipped>(async (_, _, ct) => await Task.Delay(10, ct));
    for (var i = 0; i < 20; i++)
        await bus.PublishAsync(new OrderShipped(i));

    StopReport report = await bus.StopAsync(); // stop intake, drain, then cancel what is left
    Console.WriteLine($"drained {report.Drained}, cancelled {report.Cancelled}, in time: {report.Completed}");

    try
    {
        await bus.PublishAsync(new OrderShipped(99));
    }
    catch (BusStoppedException)
    {
        Console.WriteLine("stopped: publish refused");
    }

    await bus.DisposeAsync(); // idempotent: returns the same stop
}

static void Section(string title) => Console.WriteLine($"\n== {title}");

// ---------------------------------------------------------------- events

internal interface IOrderEvent
{
    int OrderId { get; }
}

[EventName("orders.placed")]
internal sealed record OrderPlaced(int OrderId, decimal Total) : IOrderEvent;

[EventName("orders.shipped")]
internal sealed record OrderShipped(int OrderId) : IOrderEvent;

[EventName("invoices.issued")]
internal sealed record InvoiceIssued(int OrderId);

internal sealed record QuoteRequested(string Parcel); // no attribute: named "QuoteRequested"

[EventName("customers.signed-up")]
internal sealed record SignedUp([property: Required, EmailAddress] string Email, [property: Range(18, 130)] int Age);

internal sealed class TimingMiddleware : IEventMiddleware
{
    public async ValueTask InvokeAsync(HandlerInvocation invocation, HandlerDelegate next)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(invocation); // the rest of the pipeline, then the handler; its exception comes through here
        }
        finally
        {
            Console.WriteLine($"{invocation.Subscription.Name} on {invocation.Context.Name}: {Stopwatch.GetElapsedTime(started).TotalMilliseconds:F1} ms");
        }
    }
}

internal sealed class NoDisposableDomains : IEventValidator<SignedUp>
{
    public void Validate(SignedUp @event, ICollection<ValidationResult> errors)
    {
        if (@event.Email.EndsWith("@mailinator.com", StringComparison.OrdinalIgnoreCase))
            errors.Add(new ValidationResult("disposable addresses are not accepted", [nameof(SignedUp.Email)]));
    }
}
