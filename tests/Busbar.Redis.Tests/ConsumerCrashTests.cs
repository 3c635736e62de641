using Busbar.Transport;
using static Busbar.Redis.Tests.RedisTestSupport;

namespace Busbar.Redis.Tests;

/// <summary>The consumer-crash test against redis-server: the killed consumer's pending entries are claimed by the survivor.</summary>
public sealed class ConsumerCrashTests(RedisServerFixture fixture) : Transport.Contract.ConsumerCrashTests, IClassFixture<RedisServerFixture>
{
    private readonly string _prefix = "k" + Guid.NewGuid().ToString("N")[..8] + ":";

    protected override async ValueTask<IEventTransport> ConnectAsync(string role) =>
        await RedisTransport.ConnectAsync(Options(fixture.Server, role) with { KeyPrefix = _prefix });

    protected override IEnumerable<string> ConsumerHostArguments() => [fixture.Server.Configuration, _prefix, "doomed"];
}
