using Busbar.Cli.Demo;

namespace Busbar.Cli.Tests.Demo;

public sealed class DemoPaceTests
{
    [Theory]
    [InlineData(220, 88, 66)]
    [InlineData(1000, 400, 300)]
    [InlineData(10, 5, 8)]
    public void FromThroughput_SteadyRateLeavesRoomForBurstsToRecover(double measured, int rate, int capacity)
    {
        var pace = DemoPace.FromThroughput(measured);

        Assert.Equal(rate, pace.Rate);
        Assert.Equal(capacity, pace.Capacity);
    }

    [Fact]
    public void FromThroughput_BurstIsAbsorbedWithinTheGapBetweenBursts()
    {
        var pace = DemoPace.FromThroughput(300);
        var settings = new DemoRequest { Rate = pace.Rate, Capacity = pace.Capacity }.Resolve(pace);

        // A burst is extra work of BurstSize orders, done with the throughput the steady rate leaves over.
        var recovery = settings.BurstSize / (pace.MeasuredOrdersPerSecond - pace.Rate);
        var gap = settings.PublishWindow.TotalSeconds / (DemoPublisher.BurstCount + 1);

        Assert.True(recovery <= gap * 0.6, $"a burst takes {recovery:F2} s to absorb, the gap between bursts is {gap:F2} s");
        Assert.True(settings.BurstSize > settings.Capacity, "a burst must overfill the queue to show backpressure");
    }

    [Fact]
    public void FromThroughput_NothingMeasured_FallsBackToDefaults()
    {
        var pace = DemoPace.FromThroughput(0);

        Assert.Equal(DemoPace.FallbackRate, pace.Rate);
        Assert.Equal(DemoPace.FallbackCapacity, pace.Capacity);
        Assert.Contains("paced by default", pace.Describe());
    }
}
