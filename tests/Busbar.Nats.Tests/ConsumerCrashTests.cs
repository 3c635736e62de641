using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using Busbar.Transport;
using static Busbar.Nats.Tests.NatsTestSupport;

namespace Busbar.Nats.Tests;

/// <summary>A consumer process killed with SIGKILL mid-load: the server redelivers its unacknowledged messages to another instance after the lease.</summary>
public sealed class ConsumerCrashTests(NatsServerFixture fixture) : IClassFixture<NatsServerFixture>
{
    private static string HostPath => typeof(ConsumerCrashTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "ConsumerHostPath").Value!;

    [Fact]
    public async Task ConsumerProcess_KilledMidLoad_OthersHandleEverythingAndDuplicatesAreCounted()
    {
        const int total = 2000;
        var ns = NewNamespace();
        var codec = Codec();
        var options = Options(fixture.Server, ns);
        await using var publisher = await NatsTransport.ConnectAsync(options);

        var childHandled = new ConcurrentDictionary<string, int>();
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { HostPath, fixture.Server.Url, options.StreamName, options.SubjectPrefix, "workers", "contract.orders.placed" })
            info.ArgumentList.Add(argument);
        using var child = Process.Start(info)!;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        child.OutputDataReceived += (_, e) =>
        {
            if (e.Data == "R")
                ready.TrySetResult();
            else if (e.Data is ['H', ' ', ..] line)
                childHandled.TryAdd(line.Split(' ')[1], 1);
        };
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(Patience);
            for (var batch = 0; batch < total / 100; batch++)
                await publisher.PublishAsync(Enumerable.Range((batch * 100) + 1, 100).Select(codec.Placed).ToArray());
            await Until(() => childHandled.Count >= 30, "the child handling its share");

            // Both consume for a while; then the child dies holding its in-flight deliveries.
            await using var survivorTransport = await NatsTransport.ConnectAsync(options);
            await using var subscription = await survivorTransport.SubscribeAsync(new TransportSubscriptionOptions { Group = "workers", Patterns = ["contract.orders.placed"], MaxInFlight = 20 });
            var survivorHandled = new ConcurrentDictionary<int, int>();
            var survivorIds = new ConcurrentDictionary<string, int>();
            using var stop = new CancellationTokenSource();
            var consumer = Consume(subscription, async delivery =>
            {
                survivorHandled.AddOrUpdate(codec.Number(delivery), 1, static (_, n) => n + 1);
                survivorIds.TryAdd(delivery.DeliveryId, delivery.DeliveryCount);
                await delivery.AckAsync();
            }, stop.Token);
            await Until(() => survivorIds.Count >= 100, "the survivor consuming beside the child");
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync().WaitAsync(Patience);

            // Everything the child had not acknowledged when it died must reach the survivor (after the lease).
            await Until(() => survivorIds.Keys.Union(childHandled.Keys).Count() == total, "every message handled by someone", Patience * 2);
            await stop.CancelAsync();
            await consumer;

            var duplicates = survivorIds.Keys.Intersect(childHandled.Keys).Count();
            Assert.Equal(total, survivorIds.Keys.Union(childHandled.Keys).Count());
            Assert.True(survivorIds.Values.Count(count => count > 1) > 0, "the survivor received redelivered messages (delivery count > 1)");
            Console.WriteLine($"consumer crash: child handled {childHandled.Count}, survivor {survivorIds.Count}, handled by both {duplicates}");
            Assert.All(survivorHandled.Values, n => Assert.Equal(1, n));
        }
        finally
        {
            if (!child.HasExited)
                child.Kill(entireProcessTree: true);
        }
    }
}
