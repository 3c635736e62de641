using Busbar.Transport;
using Busbar.Transport.Contract;
using NATS.Client.Core;
using static Busbar.Nats.Tests.NatsTestSupport;

namespace Busbar.Nats.Tests;

/// <summary>Credentials against a real nats-server that requires them.</summary>
public sealed class NatsAuthenticationTests
{
    [Fact]
    public async Task ConnectAsync_UserAndPassword_WorksAndAWrongPasswordIsRefusedWithoutEchoingIt()
    {
        await using var server = await NatsServer.StartAsync("--user", "app", "--pass", "s3cret-pw");
        var ns = NewNamespace();
        var codec = Codec();

        await using (var transport = await NatsTransport.ConnectAsync(Options(server, ns) with { User = "app", Password = "s3cret-pw" }))
        {
            var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["*"] });
            await using var reader = new DeliveryReader(subscription);
            await transport.PublishAsync([codec.Placed(1)]);
            var delivery = await reader.NextAsync(Patience);
            Assert.Equal(1, codec.Number(delivery));
            await delivery.AckAsync();
            await subscription.DisposeAsync();
        }

        var error = await Assert.ThrowsAsync<NatsException>(async () =>
            await NatsTransport.ConnectAsync(Options(server, ns) with { User = "app", Password = "wrong-pw", ConnectTimeout = TimeSpan.FromSeconds(3) }));
        Assert.DoesNotContain("wrong-pw", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectAsync_Token_Works()
    {
        await using var server = await NatsServer.StartAsync("--auth", "t0ken-value");

        await using var transport = await NatsTransport.ConnectAsync(Options(server, NewNamespace()) with { Token = "t0ken-value" });

        Assert.True(transport.Status.IsConnected);
    }
}
