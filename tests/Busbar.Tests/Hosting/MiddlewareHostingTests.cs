using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Busbar.Tests.Hosting;

public sealed record Shipment(int Id, bool Fail = false);

public sealed record Refund(int Id);

/// <summary>A scoped unit of work: the handler adds to it, the middleware commits it after the handler succeeded.</summary>
public sealed class UnitOfWork
{
    public Guid Id { get; } = Guid.NewGuid();

    public List<string> Changes { get; } = [];
}

/// <summary>Singleton record of what the units of work and middlewares did.</summary>
public sealed class WorkJournal
{
    public ConcurrentQueue<(Guid Work, string[] Changes)> Committed { get; } = new();

    public ConcurrentQueue<Guid> RolledBack { get; } = new();

    public ConcurrentQueue<(string Who, Guid Work)> Seen { get; } = new();
}

/// <summary>The unit-of-work middleware of the docs: commit only when the handler succeeded.</summary>
public sealed class UnitOfWorkMiddleware(UnitOfWork work, WorkJournal journal) : IEventMiddleware
{
    public async ValueTask InvokeAsync(HandlerInvocation invocation, HandlerDelegate next)
    {
        journal.Seen.Enqueue(("unit-of-work", work.Id));
        try
        {
            await next(invocation);
        }
        catch
        {
            journal.RolledBack.Enqueue(work.Id);
            throw;
        }

        journal.Committed.Enqueue((work.Id, [.. work.Changes]));
    }
}

/// <summary>An inner middleware that only records which unit of work it was given.</summary>
public sealed class ProbeMiddleware(UnitOfWork work, WorkJournal journal) : IEventMiddleware
{
    public ValueTask InvokeAsync(HandlerInvocation invocation, HandlerDelegate next)
    {
        journal.Seen.Enqueue(("probe", work.Id));
        return next(invocation);
    }
}

/// <summary>Typed: sees refunds only.</summary>
public sealed class RefundAuditMiddleware(UnitOfWork work, WorkJournal journal) : IEventMiddleware<Refund>
{
    public ValueTask InvokeAsync(Refund @event, HandlerInvocation invocation, HandlerDelegate next)
    {
        journal.Seen.Enqueue(($"refund-audit {@event.Id}", work.Id));
        return next(invocation);
    }
}

public sealed class ShipmentHandler(UnitOfWork work, WorkJournal journal) : IEventHandler<Shipment>
{
    public async ValueTask HandleAsync(Shipment @event, EventContext context, CancellationToken cancellationToken)
    {
        journal.Seen.Enqueue(("handler", work.Id));
        await Task.Yield();
        work.Changes.Add($"ship {@event.Id}");
        if (@event.Fail && context.Attempt == 1)
            throw new InvalidOperationException($"shipment {@event.Id} failed");
    }
}

public sealed class RefundHandler(UnitOfWork work, WorkJournal journal) : IEventHandler<Refund>
{
    public ValueTask HandleAsync(Refund @event, EventContext context, CancellationToken cancellationToken)
    {
        journal.Seen.Enqueue(("refund-handler", work.Id));
        work.Changes.Add($"refund {@event.Id}");
        return ValueTask.CompletedTask;
    }
}

/// <summary><c>AddBusbar(…).AddMiddleware&lt;TMiddleware&gt;()</c>: scoped middleware classes that share the handler's DI scope.</summary>
public class MiddlewareHostingTests
{
    private static async Task<IHost> StartAsync(Action<Busbar.Hosting.BusbarBuilder> configure)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton<WorkJournal>();
        builder.Services.AddScoped<UnitOfWork>();
        builder.Services.AddBusbar(configure);
        var host = builder.Build();
        await host.StartAsync().Within();
        return host;
    }

    [Fact]
    public async Task AddMiddleware_UnitOfWork_CommittedAfterHandlerSuccessOnlyInTheHandlersScope()
    {
        using var host = await StartAsync(b => b
            .AddMiddleware<UnitOfWorkMiddleware>()
            .AddHandler<Shipment, ShipmentHandler>(new SubscriptionOptions { Name = "shipping" }));
        var bus = host.Services.GetRequiredService<IEventBus>();
        var journal = host.Services.GetRequiredService<WorkJournal>();

        var ok = await bus.PublishAndWaitAsync(new Shipment(1)).Within();
        var failed = await bus.PublishAndWaitAsync(new Shipment(2, Fail: true)).Within();
        await host.StopAsync().Within();

        Assert.Equal(EventStatus.Completed, ok.Status);
        Assert.Equal(EventStatus.Failed, failed.Status);
        var committed = Assert.Single(journal.Committed);
        Assert.Equal(["ship 1"], committed.Changes);
        var rolledBack = Assert.Single(journal.RolledBack);
        Assert.NotEqual(committed.Work, rolledBack);
        // Middleware and handler saw the same unit of work, a new one per event.
        var seen = journal.Seen.ToList();
        Assert.Equal([("unit-of-work", committed.Work), ("handler", committed.Work), ("unit-of-work", rolledBack), ("handler", rolledBack)], seen);
    }

    [Fact]
    public async Task AddMiddleware_RetriedHandler_NewScopePerAttemptAndOnlyTheSuccessfulOneCommits()
    {
        using var host = await StartAsync(b => b
            .AddMiddleware<UnitOfWorkMiddleware>()
            .AddHandler<Shipment, ShipmentHandler>(new SubscriptionOptions { Name = "shipping", Retry = RetryPolicy.Constant(2, TimeSpan.FromMilliseconds(1)) }));
        var bus = host.Services.GetRequiredService<IEventBus>();
        var journal = host.Services.GetRequiredService<WorkJournal>();

        var outcome = await bus.PublishAndWaitAsync(new Shipment(3, Fail: true)).Within();
        await host.StopAsync().Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(2, outcome.Handlers[0].Attempts);
        var rolledBack = Assert.Single(journal.RolledBack);
        var committed = Assert.Single(journal.Committed);
        Assert.NotEqual(rolledBack, committed.Work);
        Assert.Equal(["ship 3"], committed.Changes);
    }

    [Fact]
    public async Task AddMiddleware_Several_RunInOrderAndShareOneScopeWithTheHandler()
    {
        using var host = await StartAsync(b => b
            .AddMiddleware<UnitOfWorkMiddleware>()
            .ConfigureBus((services, bus) =>
            {
                var journal = services.GetRequiredService<WorkJournal>();
                bus.Use((invocation, next) =>
                {
                    journal.Seen.Enqueue(("delegate", Guid.Empty));
                    return next(invocation);
                });
            })
            .AddMiddleware<ProbeMiddleware>()
            .AddHandler<Shipment, ShipmentHandler>());
        var bus = host.Services.GetRequiredService<IEventBus>();
        var journal = host.Services.GetRequiredService<WorkJournal>();

        await bus.PublishAndWaitAsync(new Shipment(4)).Within();
        await host.StopAsync().Within();

        var seen = journal.Seen.ToList();
        Assert.Equal(["unit-of-work", "delegate", "probe", "handler"], seen.Select(s => s.Who));
        Assert.Single(seen.Where(s => s.Who != "delegate").Select(s => s.Work).Distinct());
    }

    [Fact]
    public async Task AddMiddlewareTyped_OnlyMatchingEvents()
    {
        using var host = await StartAsync(b => b
            .AddMiddleware<Refund, RefundAuditMiddleware>()
            .AddHandler<Shipment, ShipmentHandler>()
            .AddHandler<Refund, RefundHandler>());
        var bus = host.Services.GetRequiredService<IEventBus>();
        var journal = host.Services.GetRequiredService<WorkJournal>();

        await bus.PublishAndWaitAsync(new Shipment(5)).Within();
        await bus.PublishAndWaitAsync(new Refund(6)).Within();
        await host.StopAsync().Within();

        var seen = journal.Seen.ToList();
        Assert.Equal(["handler", "refund-audit 6", "refund-handler"], seen.Select(s => s.Who));
        // The typed middleware opened the refund's scope and its handler joined it.
        Assert.Equal(seen[1].Work, seen[2].Work);
    }

    [Fact]
    public async Task AddMiddleware_BlockingHandler_JoinsTheMiddlewaresScopeOnItsOwnThread()
    {
        using var host = await StartAsync(b => b
            .AddMiddleware<ProbeMiddleware>()
            .AddHandler<Refund, RefundHandler>(new SubscriptionOptions { Blocking = true }));
        var bus = host.Services.GetRequiredService<IEventBus>();
        var journal = host.Services.GetRequiredService<WorkJournal>();

        await bus.PublishAndWaitAsync(new Refund(7)).Within();
        await host.StopAsync().Within();

        var seen = journal.Seen.ToList();
        Assert.Equal(["probe", "refund-handler"], seen.Select(s => s.Who));
        Assert.Equal(seen[0].Work, seen[1].Work);
    }

    [Fact]
    public async Task AddMiddleware_InlineSendAndInvoke_ShareTheScopeToo()
    {
        using var host = await StartAsync(b => b
            .AddMiddleware<UnitOfWorkMiddleware>()
            .AddHandler<Refund, RefundHandler>());
        var bus = host.Services.GetRequiredService<IEventBus>();
        var journal = host.Services.GetRequiredService<WorkJournal>();

        await bus.SendAsync(new Refund(8)).Within();
        var outcome = await bus.InvokeAsync(new Refund(9)).Within();
        await host.StopAsync().Within();

        Assert.True(outcome.IsSuccess);
        Assert.Equal([["refund 8"], ["refund 9"]], journal.Committed.Select(c => c.Changes));
        var seen = journal.Seen.ToList();
        Assert.Equal(seen[0].Work, seen[1].Work);
        Assert.Equal(seen[2].Work, seen[3].Work);
        Assert.NotEqual(seen[0].Work, seen[2].Work);
    }

    [Fact]
    public async Task AddHandler_WithoutMiddleware_StillGetsAScopePerInvocation()
    {
        using var host = await StartAsync(b => b.AddHandler<Refund, RefundHandler>());
        var bus = host.Services.GetRequiredService<IEventBus>();
        var journal = host.Services.GetRequiredService<WorkJournal>();

        await bus.SendAsync(new Refund(10)).Within();
        await bus.SendAsync(new Refund(11)).Within();
        await host.StopAsync().Within();

        var seen = journal.Seen.ToList();
        Assert.Equal(2, seen.Count);
        Assert.NotEqual(seen[0].Work, seen[1].Work);
    }
}
