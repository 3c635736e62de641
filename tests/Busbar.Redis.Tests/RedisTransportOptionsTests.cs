using StackExchange.Redis;

namespace Busbar.Redis.Tests;

public sealed class RedisTransportOptionsTests
{
    private static readonly RedisTransportOptions Valid = new() { Configuration = "127.0.0.1:6379" };

    public static TheoryData<RedisTransportOptions, string> Invalid => new()
    {
        { Valid with { Configuration = " " }, "Configuration" },
        { Valid with { KeyPrefix = "" }, "KeyPrefix" },
        { Valid with { KeyPrefix = "{tag}:" }, "KeyPrefix" },
        { Valid with { ConsumerName = "a b" }, "ConsumerName" },
        { Valid with { Lease = TimeSpan.FromMilliseconds(5) }, "Lease" },
        { Valid with { MaxDeliveries = 0 }, "MaxDeliveries" },
        { Valid with { ReadBatchSize = 0 }, "ReadBatchSize" },
        { Valid with { FallbackPollInterval = TimeSpan.Zero }, "FallbackPollInterval" },
        { Valid with { JanitorInterval = TimeSpan.FromHours(1) }, "JanitorInterval" },
        { Valid with { PublishWindow = 0 }, "PublishWindow" },
        { Valid with { PublishFullMode = BusFullMode.DropOldest }, "PublishFullMode" },
        { Valid with { Retention = TimeSpan.FromSeconds(-1) }, "Retention" },
        { Valid with { MaxStreamLength = 10 }, "MaxStreamLength" },
        { Valid with { ConnectTimeout = TimeSpan.Zero }, "ConnectTimeout" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public async Task ConnectAsync_InvalidOption_ThrowsNamingIt(RedisTransportOptions options, string option)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await RedisTransport.ConnectAsync(options));

        Assert.Contains($"RedisTransportOptions.{option}", error.Message, StringComparison.Ordinal);
        Assert.Equal(option, error.ParamName);
    }

    [Fact]
    public void ToString_NeverShowsThePassword()
    {
        var options = Valid with { Configuration = "127.0.0.1:6379,password=hunter2", User = "app", Password = "s3cret" };

        var text = options.ToString();

        Assert.DoesNotContain("hunter2", text, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", text, StringComparison.Ordinal);
        Assert.Contains("Password = (set)", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectAsync_NoLocalServer_SaysHowToStartOne()
    {
        var port = FreePort();

        var error = await Assert.ThrowsAsync<RedisConnectionException>(async () =>
            await RedisTransport.ConnectAsync(Valid with { Configuration = $"127.0.0.1:{port}", ConnectTimeout = TimeSpan.FromMilliseconds(500) }));

        Assert.Contains("redis-server --port", error.Message, StringComparison.Ordinal);
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultConsumerName_IsStableMachineAndProcess()
    {
        var name = RedisTransport.DefaultConsumerName();

        Assert.Equal(name, RedisTransport.DefaultConsumerName());
        Assert.StartsWith(Environment.MachineName, name, StringComparison.Ordinal);
        Assert.DoesNotContain(" ", name, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
