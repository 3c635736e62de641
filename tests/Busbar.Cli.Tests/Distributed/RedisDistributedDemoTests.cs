using System.Diagnostics;
using System.Text.Json;
using Busbar.Redis.Tests;

namespace Busbar.Cli.Tests.Distributed;

[Collection(DistributedDemoCollection.Name)]
public sealed class RedisDistributedDemoTests(RedisServerFixture fixture) : DistributedDemoTests, IClassFixture<RedisServerFixture>
{
    protected override string Url => $"redis://127.0.0.1:{fixture.Server.Port}";

    /// <summary>
    /// The demo as a user runs it, a real process (<c>dotnet Busbar.Cli.dll</c>): it starts its workers the same way, and
    /// when it has exited, none of them is left running (once here: process handling does not depend on the broker).
    /// </summary>
    [Fact]
    public async Task Demo_RealProcess_ExitsZeroAndLeavesNoWorkerRunning()
    {
        using var demo = CliProcess.Start("demo", "--transport", Url, "--workers", "2", "--events", "100", "--rate", "100", "--kill-worker-after", "500ms", "--json");

        var exitCode = await demo.WaitForExitAsync();

        Assert.True(exitCode == 0, demo.Error + demo.Output);
        var summary = JsonDocument.Parse(demo.Output).RootElement;
        Assert.True(summary.GetProperty("invariantHolds").GetBoolean());
        foreach (var worker in summary.GetProperty("workers").EnumerateArray())
            Assert.False(IsRunning(worker.GetProperty("pid").GetInt32()), $"worker {worker.GetProperty("worker")} is still running");
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
