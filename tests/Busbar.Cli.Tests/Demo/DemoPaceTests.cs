using Busbar.Cli.Demo;

namespace Busbar.Cli.Tests.Demo;

public sealed class DemoPaceTests
{
    [Theory]
    [InlineData(220, 10, 88, 66)]
    [InlineData(1000, 10, 400, 300)]
    [InlineData(220, 4, 88, 26)]
    [InlineData(220, 2, 88, 13)]
    [InlineData(10, 10, 5, 8)]
    public void Resolve_FromMeasuredThroughput_RateAndCapacityFitTheRun(double measured, double seconds, int rate, int capacity)
    {
        var settings = new DemoRequest { Duration = TimeSpan.FromSeconds(seconds) }.Resolve(new DemoPace(measured));

        Assert.Equal(rate, settings.Rate);
        Assert.Equal(capacity, settings.Capacity);
    }

    [Theory]
    [InlineData(300, 10)]
    [InlineData(300, 4)]
    [InlineData(5000, 60)]
    public void Resolve_BurstIsAbsorbedInHalfTheGapBetweenBursts(double measured, double seconds)
    {
        var pace = new DemoPace(measured);
        var settings = new DemoRequest { Duration = TimeSpan.FromSeconds(seconds) }.Resolve(pace);

        // A burst is extra work of BurstSize orders, done with the throughput the steady rate leaves over.
        var recovery = settings.BurstSize / (pace.MeasuredOrdersPerSecond - settings.Rate);

        Assert.True(recovery <= settings.BurstGap.TotalSeconds * 0.51, $"a burst takes {recovery:F2} s to absorb, the gap between bursts is {settings.BurstGap.TotalSeconds:F2} s");
        Assert.True(settings.BurstSize > settings.Capacity, "a burst must overfill the queue to show backpressure");
    }

    [Fact]
    public void Resolve_GivenRateAndCapacity_KeepsThem()
    {
        var settings = new DemoRequest { Rate = 500, Capacity = 16 }.Resolve(new DemoPace(220));

        Assert.Equal(500, settings.Rate);
        Assert.Equal(16, settings.Capacity);
    }

    [Fact]
    public void Pace_NothingMeasured_FallsBackToDefaults()
    {
        var pace = new DemoPace(0);

        Assert.Equal(DemoPace.FallbackRate, pace.Rate);
        Assert.Equal(DemoPace.FallbackCapacity, pace.CapacityFor(TimeSpan.FromSeconds(2)));
        Assert.Contains("paced by default", pace.Describe());
    }
}
