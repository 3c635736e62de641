using Busbar.Diagnostics;
using Busbar.Tests.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Busbar.Tests.Hosting;

/// <summary>A scoped dependency: each DI scope gets its own id.</summary>
public sealed class ScopedProbe
{
    public Guid Id { get; } = Guid.NewGuid();
}

/// <summary>Records what the test needs to see from the handler invocations.</summary>
public sealed class HandlerLog
{
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _entered;

    public System.Collections.Concurrent.ConcurrentQueue<(int Order, Guid Scope)> Handled { get; } = new();

    public bool Hold { get; set; }

    public int Entered => Volatile.Read(ref _entered);

    public void Release() => _release.TrySetResult();

    public async ValueTask EnterAsync()
    {
        Interlocked.Increment(ref _entered);
        if (Hold)
            await _release.Task;
    }
}

public sealed class OrderHandler(ScopedProbe probe, HandlerLog log) : IEventHandler<DiagOrder>
{
    public async ValueTask HandleAsync(DiagOrder @event, EventContext context, CancellationToken cancellationToken)
    {
        await log.EnterAsync();
        log.Handled.Enqueue((@event.Id, probe.Id));
    }
}

public class HostingTests
{
    private static HostApplicationBuilder NewHost(Dictionary<string, string?>? settings = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings ?? []);
        builder.Services.AddSingleton<HandlerLog>();
        builder.Services.AddScoped<ScopedProbe>();
        return builder;
    }

    [Fact]
    public async Task AddBusbar_HandlerClass_ResolvedInNewScopePerInvocation()
    {
        var builder = NewHost();
        builder.Services.AddBusbar(b => b.AddHandler<DiagOrder, OrderHandler>());
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Eventually.Limit);
        var bus = host.Services.GetRequiredService<IEventBus>();

        var first = await (await bus.PublishAsync(new DiagOrder(1))).AsValueTask().Within();
        var second = await (await bus.PublishAsync(new DiagOrder(2))).AsValueTask().Within();
        await host.StopAsync().WaitAsync(Eventually.Limit);

        Assert.True(first.IsSuccess && second.IsSuccess);
        Assert.Equal("Busbar.Tests.Hosting.OrderHandler", first.Handlers[0].SubscriptionName);
        var log = host.Services.GetRequiredService<HandlerLog>();
        var scopes = log.Handled.Select(h => h.Scope).ToList();
        Assert.Equal(2, scopes.Count);
        Assert.NotEqual(scopes[0], scopes[1]);
    }

    [Fact]
    public async Task HostStop_EventsInFlight_DrainedBeforeStopReturns()
    {
        var builder = NewHost();
        builder.Services.AddBusbar(b => b.AddHandler<DiagOrder, OrderHandler>());
        using var host = builder.Build();
        var log = host.Services.GetRequiredService<HandlerLog>();
        log.Hold = true;
        await host.StartAsync().WaitAsync(Eventually.Limit);
        var bus = host.Services.GetRequiredService<IEventBus>();
        var handles = new List<EventHandle>();
        for (var i = 0; i < 20; i++)
            handles.Add(await bus.PublishAsync(new DiagOrder(i)));
        await Eventually.True(() => log.Entered == 1, "first event running");

        var stopping = host.StopAsync();
        await Eventually.True(() => ((Busbar.Dispatch.InProcessEventBus)bus).IsStopping, "bus stopping");
        await Assert.ThrowsAsync<BusStoppedException>(async () => await bus.PublishAsync(new DiagOrder(99)));
        log.Release();
        await stopping.WaitAsync(Eventually.Limit);

        Assert.Equal(20, log.Handled.Count);
        Assert.All(handles, h => Assert.Equal(EventStatus.Completed, h.Status));
        Assert.Equal(Enumerable.Range(0, 20), log.Handled.Select(h => h.Order));
    }

    [Fact]
    public async Task AddBusbar_InvalidOptionInConfiguration_StartFailsNamingTheOption()
    {
        using var host = NewHost(new() { ["Busbar:Capacity"] = "0" }).Also(b => b.Services.AddBusbar()).Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Eventually.Limit));

        Assert.Contains("EventBusOptions.Capacity", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'Busbar'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddBusbar_UnreadableConfigurationValue_StartFailsNamingTheKey()
    {
        using var host = NewHost(new() { ["Busbar:orders:FullMode"] = "Sometimes" }).Also(b => b.Services.AddBusbar("orders")).Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Eventually.Limit));

        Assert.Contains("Busbar:orders:FullMode", ex.Message, StringComparison.Ordinal);
        Assert.Contains("EventBusOptions.FullMode", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddBusbar_NamedBus_KeyedAndBoundFromItsSectionThenConfigured()
    {
        var builder = NewHost(new()
        {
            ["Busbar:Capacity"] = "7",
            ["Busbar:orders:Capacity"] = "5",
            ["Busbar:orders:DrainTimeout"] = "00:00:03",
            ["Busbar:orders:FullMode"] = "reject",
        });
        builder.Services.AddBusbar();
        builder.Services.AddBusbar("orders", b => b.Configure(o => o with { MaxConcurrentEvents = 2 }));
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Eventually.Limit);

        var orders = host.Services.GetRequiredKeyedService<IEventBus>("orders");
        var main = host.Services.GetRequiredService<IEventBus>();
        await host.StopAsync().WaitAsync(Eventually.Limit);

        Assert.Equal("orders", orders.Name);
        Assert.Equal((5, BusFullMode.Reject, 2, TimeSpan.FromSeconds(3)), (orders.Options.Capacity, orders.Options.FullMode, orders.Options.MaxConcurrentEvents, orders.Options.DrainTimeout));
        Assert.Equal(7, main.Options.Capacity);
        Assert.NotSame(orders, main);
    }

    [Fact]
    public async Task AddBusbar_CancellationAndContextOptions_BoundFromConfiguration()
    {
        var builder = NewHost(new()
        {
            ["Busbar:CancellationGrace"] = "00:00:02",
            ["Busbar:DeadLetterInlineFailures"] = "true",
            ["Busbar:FlowExecutionContext"] = "True",
        });
        builder.Services.AddBusbar();
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Eventually.Limit);
        var options = host.Services.GetRequiredService<IEventBus>().Options;
        await host.StopAsync().WaitAsync(Eventually.Limit);

        Assert.Equal(TimeSpan.FromSeconds(2), options.CancellationGrace);
        Assert.True(options.DeadLetterInlineFailures);
        Assert.True(options.FlowExecutionContext);
    }

    [Fact]
    public async Task AddBusbar_UnreadableBoolean_FailsStartNamingTheKey()
    {
        var builder = NewHost(new() { ["Busbar:FlowExecutionContext"] = "sometimes" });
        builder.Services.AddBusbar();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Eventually.Limit));

        Assert.Contains("Busbar:FlowExecutionContext", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddHealthCheck_BusStoppedWithHost_ReportsUnhealthy()
    {
        var builder = NewHost();
        builder.Services.AddBusbar(b => b.AddHealthCheck());
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Eventually.Limit);
        var check = host.Services.GetRequiredService<BusbarHealthCheck>();
        var before = await check.CheckHealthAsync(new HealthCheckContext());

        await host.StopAsync().WaitAsync(Eventually.Limit);
        var after = await check.CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(HealthStatus.Healthy, before.Status);
        Assert.Equal(HealthStatus.Unhealthy, after.Status);
    }
}

internal static class BuilderExtensions
{
    public static T Also<T>(this T value, Action<T> action)
    {
        action(value);
        return value;
    }
}
