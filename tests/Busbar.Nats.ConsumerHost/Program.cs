using System.Globalization;
using System.Text;
using Busbar.Nats;
using Busbar.Transport;

// Usage: Busbar.Nats.ConsumerHost <url> <stream name> <subject prefix> <group> <pattern>
// Prints "R" once subscribed, then "H <stream sequence> <delivery count>" for each delivery it handled, before acknowledging it:
// a kill between the two leaves a reported entry that comes again (a counted duplicate), never an acknowledged one unreported.
// Each delivery takes 20 ms, so the host always holds up to 20 unacknowledged deliveries when it is killed.
if (args.Length != 5)
{
    Console.Error.WriteLine("usage: <url> <stream name> <subject prefix> <group> <pattern>");
    return 2;
}

Console.OutputEncoding = Encoding.UTF8;
await using var transport = await NatsTransport.ConnectAsync(new NatsTransportOptions
{
    Url = args[0],
    StreamName = args[1],
    SubjectPrefix = args[2],
    Lease = TimeSpan.FromSeconds(2),
    MaxDeliveries = 3,
    PullExpiry = TimeSpan.FromSeconds(1),
    StatusInterval = TimeSpan.FromMilliseconds(200),
    RequestTimeout = TimeSpan.FromSeconds(2),
});
await using var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = args[3], Patterns = [args[4]], MaxInFlight = 20 });
Console.WriteLine("R");
await foreach (var delivery in subscription.ReadAllAsync())
{
    await Task.Delay(20);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"H {delivery.DeliveryId} {delivery.DeliveryCount}"));
    await delivery.AckAsync();
}

return 0;
