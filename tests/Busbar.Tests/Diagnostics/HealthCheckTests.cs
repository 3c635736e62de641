using Busbar.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Diagnostics;

public class HealthCheckTests
{
    [Fact]
    public async Task CheckHealthAsync_QueueAboveHighWaterMarkLongerThanPeriod_Degraded()
    {
        var time = new FakeTimeProvider();
        var gate = new Gate();
        await using var bus = new EventBusBuilder().WithOptions(new EventBusOptions { Capacity = 10 }).WithTimeProvider(time).Build();
        bus.Subscribe<DiagOrder>(async (_, _, _) => await gate.PassAsync());
        var check = new BusbarHealthCheck(bus, new BusbarHealthCheckOptions { HighWaterMark = 0.5, DegradedAfter = TimeSpan.FromSeconds(10) }, time);
        var context = new HealthCheckContext();
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(context)).Status);

        await bus.PublishAsync(new DiagOrder(0));
        await Eventually.True(() => gate.Entered == 1, "first event running");
        for (var i = 1; i <= 5; i++)
            await bus.PublishAsync(new DiagOrder(i));
        var justAbove = await check.CheckHealthAsync(context);
        time.Advance(TimeSpan.FromSeconds(9));
        var notYet = await check.CheckHealthAsync(context);
        time.Advance(TimeSpan.FromSeconds(1));
        var degraded = await check.CheckHealthAsync(context);
        gate.Open();
        await Eventually.True(() => bus.GetStatistics().QueueDepth == 0, "queue drained");
        var recovered = await check.CheckHealthAsync(context);

        Assert.Equal(HealthStatus.Healthy, justAbove.Status);
        Assert.Equal(HealthStatus.Healthy, notYet.Status);
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Equal(5, degraded.Data["queueDepth"]);
        Assert.Equal(HealthStatus.Healthy, recovered.Status);
    }

    [Fact]
    public async Task CheckHealthAsync_BusStopped_Unhealthy()
    {
        await using var bus = EventBus.Create();
        var check = new BusbarHealthCheck(bus);

        await bus.StopAsync().Within();
        var result = await check.CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("stopped", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_InvalidHighWaterMark_MessageNamesOption()
    {
        var bus = EventBus.Create();
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new BusbarHealthCheck(bus, new BusbarHealthCheckOptions { HighWaterMark = 1.5 }));
        Assert.Contains("BusbarHealthCheckOptions.HighWaterMark", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckHealthAsync_StatusWithoutABus_ReadsOnlyStatisticsAndStopping()
    {
        // The check reads a bus through IBusStatus: no InProcessEventBus is built here.
        var status = new FakeStatus { Statistics = new BusStatistics { Name = "fake", Capacity = 4, QueueDepth = 1 } };
        var check = new BusbarHealthCheck(status, null, new FakeTimeProvider());

        var running = await check.CheckHealthAsync(new HealthCheckContext());
        status.IsStopping = true;
        var stopping = await check.CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(HealthStatus.Healthy, running.Status);
        Assert.Equal(1, running.Data["queueDepth"]);
        Assert.Equal(HealthStatus.Unhealthy, stopping.Status);
        Assert.Contains("'fake' is stopped", stopping.Description, StringComparison.Ordinal);
    }

    private sealed class FakeStatus : IBusStatus
    {
        public required BusStatistics Statistics { get; init; }

        public bool IsStopping { get; set; }

        public BusStatistics GetStatistics() => Statistics;
    }
}
