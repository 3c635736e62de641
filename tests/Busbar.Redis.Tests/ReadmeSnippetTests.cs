using System.Text.Json.Serialization;
using Busbar.Transport;

namespace Busbar.Redis.Tests;

[EventName("shop.orders.placed")]
public sealed record ShopOrderPlaced(int OrderId, decimal Total);

[JsonSerializable(typeof(ShopOrderPlaced))]
internal sealed partial class ShopJson : JsonSerializerContext;

/// <summary>The README's "Distributed" snippet, compiled and run against the fixture's redis-server (its address instead of the default port).</summary>
public sealed class ReadmeSnippetTests(RedisServerFixture fixture) : IClassFixture<RedisServerFixture>
{
    [Fact]
    public async Task ReadmeDistributedSnippet_RunsAgainstRedis()
    {
        var handled = await Snippet(fixture.Server.Configuration).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(42, handled);
    }

    private static async Task<int> Snippet(string redis)
    {
        var billed = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        // README: begin
        var events = new EventTypeRegistry().Add(ShopJson.Default.ShopOrderPlaced);   // the types that travel, AOT-safe

        await using var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Name = "billing" })  // the consumer group, by default
            .UseRedis(redis, events)                                // or .UseNats("nats://127.0.0.1:4222", events)
            .KeepLocal("ui.**")                                     // events that never leave the process
            .Build();

        // Runs in whichever instance of "billing" receives the event; acknowledged after it returns.
        bus.Subscribe<ShopOrderPlaced>((order, ctx, ct) =>
        {
            billed.TrySetResult(order.OrderId);
            return ValueTask.CompletedTask;
        });

        var outcome = await bus.PublishAndWaitAsync(new ShopOrderPlaced(42, 99.90m));
        Console.WriteLine(outcome.Status); // Completed: the broker accepted it (handlers may run in another process)
        // README: end

        return await billed.Task;
    }
}
