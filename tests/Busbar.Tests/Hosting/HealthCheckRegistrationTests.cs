using Busbar.Diagnostics;
using Busbar.Tests.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Busbar.Tests.Hosting;

public class HealthCheckRegistrationTests
{
    private static async Task<HealthReport> ReportAsync(Action<IServiceCollection> configure, bool stopFirst = false)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        configure(builder.Services);
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Eventually.Limit);
        if (stopFirst)
            await host.StopAsync().WaitAsync(Eventually.Limit);
        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().WaitAsync(Eventually.Limit);
        if (!stopFirst)
            await host.StopAsync().WaitAsync(Eventually.Limit);
        return report;
    }

    [Fact]
    public async Task AddHealthCheck_DefaultBus_ReportedByHostHealthChecksWithoutFurtherCall()
    {
        var report = await ReportAsync(s => s.AddBusbar(b => b.AddHealthCheck()));

        var entry = Assert.Single(report.Entries);
        Assert.Equal("busbar", entry.Key);
        Assert.Equal(HealthStatus.Healthy, entry.Value.Status);
        Assert.Equal(["busbar"], entry.Value.Tags);
    }

    [Fact]
    public async Task AddHealthCheck_BusStopped_HostReportUnhealthy()
    {
        var report = await ReportAsync(s => s.AddBusbar(b => b.AddHealthCheck()), stopFirst: true);

        Assert.Equal(HealthStatus.Unhealthy, report.Entries["busbar"].Status);
    }

    [Fact]
    public async Task AddHealthCheck_DefaultAndNamedBus_OneEntryEach()
    {
        var report = await ReportAsync(s =>
        {
            s.AddBusbar(b => b.AddHealthCheck());
            s.AddBusbar("audit", b => b.AddHealthCheck());
        });

        Assert.Equal(["busbar", "busbar-audit"], report.Entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("audit", report.Entries["busbar-audit"].Data["bus"]);
    }

    [Fact]
    public async Task AddHealthCheck_CalledTwice_RegisteredOnce()
    {
        var report = await ReportAsync(s =>
        {
            s.AddBusbar(b => b.AddHealthCheck());
            s.AddBusbar(b => b.AddHealthCheck());
        });

        Assert.Equal("busbar", Assert.Single(report.Entries).Key);
    }

    [Fact]
    public async Task AddHealthCheck_NameAndTags_UsedForTheRegistration()
    {
        var report = await ReportAsync(s => s.AddBusbar(b => b.AddHealthCheck(new BusbarHealthCheckOptions { RegistrationName = "events", Tags = ["ready", "busbar"] })));

        var entry = Assert.Single(report.Entries);
        Assert.Equal("events", entry.Key);
        Assert.Equal(["ready", "busbar"], entry.Value.Tags);
    }

    [Fact]
    public void AddHealthCheck_BlankRegistrationName_ThrowsNamingTheOption()
    {
        var services = new ServiceCollection();

        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => services.AddBusbar(b => b.AddHealthCheck(new BusbarHealthCheckOptions { RegistrationName = " " })));

        Assert.Contains("BusbarHealthCheckOptions.RegistrationName", ex.Message, StringComparison.Ordinal);
    }
}
