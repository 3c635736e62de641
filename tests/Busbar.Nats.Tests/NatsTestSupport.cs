namespace Busbar.Nats.Tests;

internal static class NatsTestSupport
{
    /// <summary>Options for a namespace of its own on the server: stream <c>{ns}</c>, subjects <c>{ns}.&gt;</c>.</summary>
    public static NatsTransportOptions Options(NatsServer server, string ns) => new()
    {
        Url = server.Url,
        StreamName = ns.ToUpperInvariant(),
        SubjectPrefix = ns,
        Lease = TimeSpan.FromSeconds(2),
        MaxDeliveries = 3,
        PullExpiry = TimeSpan.FromSeconds(1),
        StatusInterval = TimeSpan.FromMilliseconds(200),
        RequestTimeout = TimeSpan.FromSeconds(2),
    };

    public static string NewNamespace() => "n" + Guid.NewGuid().ToString("N")[..12];
}
