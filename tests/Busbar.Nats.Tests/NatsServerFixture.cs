namespace Busbar.Nats.Tests;

/// <summary>One server shared by a test class; tests keep apart by stream name and subject prefix.</summary>
public sealed class NatsServerFixture : IAsyncLifetime
{
    public NatsServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await NatsServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
