using Busbar.Cli.Broker;

namespace Busbar.Cli.Tests.Broker;

public sealed class BrokerUrlTests
{
    [Theory]
    [InlineData("redis://127.0.0.1", "redis", "127.0.0.1", 6379)]
    [InlineData("redis://cache.local:6380", "redis", "cache.local", 6380)]
    [InlineData("nats://127.0.0.1", "nats", "127.0.0.1", 4222)]
    [InlineData("nats://u:p@10.0.0.5:4333", "nats", "10.0.0.5", 4333)]
    public void TryParse_BrokerAddress_ReadsSchemeHostAndPort(string text, string scheme, string host, int port)
    {
        Assert.True(BrokerUrl.TryParse(text, out var url, out var error), error);
        Assert.Equal((scheme, host, port), (url!.Scheme, url.Host, url.Port));
    }

    [Fact]
    public void Display_WithPassword_LeavesThePasswordOut()
    {
        Assert.True(BrokerUrl.TryParse("redis://admin:secret@127.0.0.1:6379", out var url, out _));

        Assert.Equal("redis://admin@127.0.0.1:6379", url!.Display);
    }

    [Theory]
    [InlineData("tail", "http://127.0.0.1:6379")]
    [InlineData("publish", "127.0.0.1:6379", "orders.placed", "{}")]
    [InlineData("dead-letters", "redis://127.0.0.1:6379/0")]
    public async Task Commands_BadUrl_ExitTwoWithOneLineSayingWhatAnAddressIs(string command, params string[] rest)
    {
        var run = await CliRun.RunAsync([command, .. rest]);

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("busbar: <url> '", run.Error, StringComparison.Ordinal);
        Assert.Equal("", run.Output);
    }

    [Theory]
    [InlineData("orders..placed", "{}", "<name> 'orders..placed' is not a valid event name")]
    [InlineData("orders.placed", "{\"a\":", "<json> is not valid JSON")]
    [InlineData("orders.placed", "not json", "<json> is not valid JSON")]
    public async Task Publish_BadNameOrJson_ExitTwoBeforeConnecting(string name, string json, string expected)
    {
        // Port 1 on loopback: were anything to connect, the test would see a connection error instead.
        var run = await CliRun.RunAsync("publish", "redis://127.0.0.1:1", name, json);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(expected, run.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("redis", "redis-server --port {0}")]
    [InlineData("nats", "nats-server -js -p {0}")]
    public async Task Publish_LocalUrlNothingAnswers_ExitOneAndSaysHowToStartAServer(string scheme, string hint)
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var run = await CliRun.RunAsync("publish", $"{scheme}://127.0.0.1:{port}", "orders.placed", "{}");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"nothing answers at {scheme}://127.0.0.1:{port}", run.Error, StringComparison.Ordinal);
        Assert.Contains(string.Format(System.Globalization.CultureInfo.InvariantCulture, hint, port), run.Error, StringComparison.Ordinal);
    }
}
