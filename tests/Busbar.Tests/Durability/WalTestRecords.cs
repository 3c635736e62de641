using System.Text;
using Busbar.Durability;

namespace Busbar.Tests.Durability;

internal static class WalTestRecords
{
    public static WalEventRecord Event(Guid? id = null, string[]? subscriptions = null, int payloadBytes = 32) => new()
    {
        EventId = id ?? Guid.NewGuid(),
        Name = "orders.placed",
        CorrelationId = Guid.NewGuid(),
        CausationId = Guid.NewGuid(),
        Path = ["orders", "placed"],
        CreatedAt = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero),
        Priority = 3,
        OrderingKey = "customer-7",
        Deadline = new DateTimeOffset(2025, 1, 2, 4, 4, 5, TimeSpan.Zero),
        Headers = new Dictionary<string, string> { ["tenant"] = "acme", ["trace"] = "00-ab" },
        Attempt = 1,
        Subscriptions = subscriptions ?? ["billing"],
        Payload = Encoding.UTF8.GetBytes("{\"n\":\"" + new string('x', Math.Max(0, payloadBytes - 8)) + "\"}"),
    };

    public static WalDeadLetterRecord DeadLetter(Guid eventId, string subscription) => new()
    {
        DeadLetterId = Guid.NewGuid(),
        EventId = eventId,
        SubscriptionName = subscription,
        Attempts = 5,
        ExceptionType = "System.TimeoutException",
        ExceptionMessage = "The handler timed out. ünïcode",
        FailedAt = new DateTimeOffset(2025, 1, 2, 3, 5, 0, TimeSpan.Zero),
    };

    public static void AssertEqual(WalEventRecord expected, WalEventRecord actual)
    {
        Assert.Equal(expected.EventId, actual.EventId);
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.CorrelationId, actual.CorrelationId);
        Assert.Equal(expected.CausationId, actual.CausationId);
        Assert.Equal(expected.Path, actual.Path);
        Assert.Equal(expected.CreatedAt, actual.CreatedAt);
        Assert.Equal(expected.Priority, actual.Priority);
        Assert.Equal(expected.OrderingKey, actual.OrderingKey);
        Assert.Equal(expected.Deadline, actual.Deadline);
        Assert.Equal(expected.Headers?.OrderBy(p => p.Key, StringComparer.Ordinal), actual.Headers?.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Attempt, actual.Attempt);
        Assert.Equal(expected.Subscriptions, actual.Subscriptions);
        Assert.Equal(expected.Payload.ToArray(), actual.Payload.ToArray());
    }
}
