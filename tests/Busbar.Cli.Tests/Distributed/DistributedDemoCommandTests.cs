using System.Net;
using System.Net.Sockets;

namespace Busbar.Cli.Tests.Distributed;

/// <summary><c>busbar demo --transport</c> where it needs no broker: nothing answering, and the hidden worker command.</summary>
public sealed class DistributedDemoCommandTests
{
    [Theory]
    [InlineData("redis", "Start a local server with: redis-server --port {0} --appendonly yes")]
    [InlineData("nats", "Start a local server with: nats-server -js -p {0} -sd <store directory>")]
    public async Task Demo_LocalUrlNothingAnswers_ExitOneWithOneLineSayingHowToStartAServer(string scheme, string hint)
    {
        var port = FreePort();

        var run = await CliRun.RunAsync("demo", "--transport", $"{scheme}://127.0.0.1:{port}", "--workers", "2");

        Assert.Equal(ExitCodes.Failure, run.ExitCode);
        var line = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"busbar: nothing answers at {scheme}://127.0.0.1:{port}.", line, StringComparison.Ordinal);
        Assert.EndsWith(string.Format(System.Globalization.CultureInfo.InvariantCulture, hint, port), line.TrimEnd(), StringComparison.Ordinal);

        // Nothing was started: no worker line, no summary.
        Assert.Equal("", run.Output);
    }

    [Fact]
    public async Task Help_DoesNotListTheHiddenWorkerCommand()
    {
        var run = await CliRun.RunAsync("--help");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("demo", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("demo-worker", run.Output, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
