using Busbar.Cli.Demo;
using Spectre.Console.Testing;

namespace Busbar.Cli.Tests.Demo;

public sealed class LiveViewTests
{
    [Fact]
    public void Render_Frame_ShowsKeyFieldsInFixedSizeConsole()
    {
        var console = new TestConsole().Width(120);
        var snapshot = new DemoSnapshot
        {
            Settings = new DemoSettings { Capacity = 256, FullMode = BusFullMode.DropOldest, Concurrency = 4 },
            Elapsed = TimeSpan.FromSeconds(3.2),
            Phase = "publishing",
            Statistics = new BusStatistics
            {
                Name = "demo",
                QueueDepth = 128,
                Capacity = 256,
                InFlight = 130,
                Published = 1500,
                Processed = 1234,
                Failed = 2,
                Retried = 17,
                Dropped = 42,
                Rejected = 0,
                DeadLettered = 2,
                SlowHandlers = 3,
                Handlers = new Dictionary<string, HandlerLatency>
                {
                    ["inventory"] = new(1200, TimeSpan.FromMilliseconds(1.5), TimeSpan.FromMilliseconds(9.4), TimeSpan.FromMilliseconds(12)),
                    ["analytics"] = new(1200, TimeSpan.FromMilliseconds(1.4), TimeSpan.FromMilliseconds(251.0), TimeSpan.FromMilliseconds(260)),
                },
            },
            Throughput = 456,
            Orders = 1000,
            Children = 500,
            Bursts = 1,
            BurstSize = 512,
            PublisherWaited = TimeSpan.Zero,
            LastBurst = "burst 1/3 of 512 orders: DropOldest: 42 queued orders evicted",
            CorrelatedChildren = 500,
            WalDirectory = "/tmp/busbar-demo-test",
        };

        console.Write(LiveView.Render(snapshot));
        var frame = console.Output;

        Assert.Contains("456 events/s", frame);
        Assert.Contains("128/256", frame);
        Assert.Matches(@"handled\s*│\s*1234", frame);
        Assert.Matches(@"retries\s*│\s*17", frame);
        Assert.Matches(@"dead letters\s*│\s*2", frame);
        Assert.Matches(@"dropped\s*│\s*42", frame);
        Assert.Matches(@"inventory\s*│[^\n]*│\s*1200\s*│\s*1\.5 ms\s*│\s*9\.4 ms", frame);
        Assert.Contains("251.0 ms", frame);
        Assert.Contains("DropOldest: 42 queued orders evicted", frame);
        Assert.Contains("/tmp/busbar-demo-test", frame);
        Assert.All(frame.Split('\n'), line => Assert.True(line.TrimEnd().Length <= 120, "line wider than the console: " + line));
    }
}
