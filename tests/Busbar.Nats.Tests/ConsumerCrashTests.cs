using Busbar.Transport;
using static Busbar.Nats.Tests.NatsTestSupport;

namespace Busbar.Nats.Tests;

/// <summary>The consumer-crash test against nats-server: the server redelivers the killed consumer's messages after the lease.</summary>
public sealed class ConsumerCrashTests(NatsServerFixture fixture) : Transport.Contract.ConsumerCrashTests, IClassFixture<NatsServerFixture>
{
    private readonly NatsTransportOptions _options = Options(fixture.Server, NewNamespace());

    protected override async ValueTask<IEventTransport> ConnectAsync(string role) => await NatsTransport.ConnectAsync(_options);

    protected override IEnumerable<string> ConsumerHostArguments() => [fixture.Server.Url, _options.StreamName, _options.SubjectPrefix];
}
