namespace Busbar.Redis.Tests;

internal static class RedisTestSupport
{
    /// <summary>Transport options for <paramref name="server"/> with short leases and a busy janitor (callers set a key prefix of their own).</summary>
    public static RedisTransportOptions Options(RedisServer server, string consumer = "a") => new()
    {
        Configuration = server.Configuration,
        KeyPrefix = "f:",
        ConsumerName = consumer,
        Lease = TimeSpan.FromSeconds(2),
        MaxDeliveries = 3,
        JanitorInterval = TimeSpan.FromMilliseconds(50),
        FallbackPollInterval = TimeSpan.FromMilliseconds(250),
        Retention = TimeSpan.Zero,
    };
}
