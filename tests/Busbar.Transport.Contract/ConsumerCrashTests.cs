using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using static Busbar.Transport.Contract.TransportTestSupport;

namespace Busbar.Transport.Contract;

/// <summary>
/// A consumer process killed with SIGKILL mid-load: what it had not acknowledged reaches another consumer of its group
/// (after the lease), every message is handled by someone, and the survivor handles each one once. The transport's test
/// project builds the consumer host (a console app that consumes and prints <c>R</c> when ready and <c>H id</c> per
/// delivery) and names its path in an <c>AssemblyMetadata("ConsumerHostPath", …)</c> attribute.
/// </summary>
public abstract class ConsumerCrashTests
{
    /// <summary>A transport on the test's namespace (key prefix, stream); <paramref name="role"/> is <c>publisher</c> or <c>survivor</c>.</summary>
    protected abstract ValueTask<IEventTransport> ConnectAsync(string role);

    /// <summary>The consumer host's arguments before the group and the pattern: the server and the test's namespace.</summary>
    protected abstract IEnumerable<string> ConsumerHostArguments();

    private string HostPath => GetType().Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "ConsumerHostPath").Value!;

    [Fact]
    public async Task ConsumerProcess_KilledMidLoad_OthersHandleEverythingAndDuplicatesAreCounted()
    {
        const int total = 2000;
        var codec = Codec();
        await using var publisher = await ConnectAsync("publisher");

        var childHandled = new ConcurrentDictionary<string, int>();
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in ConsumerHostArguments().Prepend(HostPath).Append("workers").Append("contract.orders.placed"))
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
            await using var survivorTransport = await ConnectAsync("survivor");
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
            Assert.True(survivorIds.Values.Count(count => count > 1) > 0, "the survivor received the child's unacknowledged messages again (delivery count > 1)");
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
