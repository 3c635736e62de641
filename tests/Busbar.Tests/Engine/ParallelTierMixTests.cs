using System.Collections.Concurrent;
using Xunit.Abstractions;

namespace Busbar.Tests.Engine;

/// <summary>
/// The Parallel tier where its features meet: a randomized mix (fixed, printed seed) of handlers that complete
/// synchronously, go asynchronous, throw before or after their first await, run slowly, or wait for every other such
/// handler of their tier to start (which only concurrency lets finish); priority tiers; All and First completion;
/// queued, <c>InvokeAsync</c> and <c>SendAsync</c> dispatch; with and without a policy that takes the general path.
/// Every handler must run as often as its tier's outcome says, end as its behaviour says, see its own event as
/// <see cref="EventContext.Current"/> before and after its await, and have its children listed under it.
/// </summary>
public sealed class ParallelTierMixTests(ITestOutputHelper output)
{
    private const int Events = 120;
    private const int Subscriptions = 6;

    private enum Behaviour
    {
        Sync,
        SyncThrow,
        Async,
        AsyncThrow,
        Slow,
        Rendezvous,
    }

    private enum Dispatch
    {
        Queued,
        Invoke,
        Send,
    }

    [EventName("parallelmix.step")]
    public sealed record Step(int N);

    [EventName("parallelmix.note")]
    public sealed record Note(int N);

    [Theory]
    [InlineData(5)]
    [InlineData(23)]
    [InlineData(2026)]
    [InlineData(31337)]
    public async Task RandomMix_EveryHandlerEndsAsItsBehaviourAndCompletionSay(int seed)
    {
        var random = new Random(seed);
        var priorities = new int[Subscriptions];
        for (var s = 0; s < Subscriptions; s++)
            priorities[s] = random.Next(3);
        // A handler timeout that never fires sends every event through the general path instead of the inline start.
        var policy = random.Next(3) == 0;
        var maxConcurrentEvents = random.Next(1, 4);
        var behaviours = new Behaviour[Events, Subscriptions];
        var completions = new CompletionMode[Events];
        var dispatches = new Dispatch[Events];
        for (var e = 0; e < Events; e++)
        {
            dispatches[e] = (Dispatch)random.Next(3);
            completions[e] = dispatches[e] != Dispatch.Send && random.Next(3) == 0 ? CompletionMode.First : CompletionMode.All;
            for (var s = 0; s < Subscriptions; s++)
                behaviours[e, s] = (Behaviour)random.Next(6);
        }

        output.WriteLine($"seed {seed}: priorities [{string.Join(", ", priorities)}], policy {policy}, {maxConcurrentEvents} event(s) at a time, " +
            $"{completions.Count(c => c == CompletionMode.First)} of {Events} first-wins");

        // Route order: higher priority first, then registration.
        var order = Enumerable.Range(0, Subscriptions).OrderByDescending(s => priorities[s]).ThenBy(s => s).ToArray();
        var tierOf = new int[Subscriptions];
        var tiers = priorities.Distinct().OrderByDescending(p => p).ToArray();
        for (var s = 0; s < Subscriptions; s++)
            tierOf[s] = Array.IndexOf(tiers, priorities[s]);

        // Per (event, tier): how many rendezvous handlers must start before any of them may end.
        var rendezvousExpected = new int[Events, tiers.Length];
        var rendezvousStarted = new int[Events, tiers.Length];
        var rendezvousAll = new TaskCompletionSource[Events, tiers.Length];
        for (var e = 0; e < Events; e++)
        {
            for (var t = 0; t < tiers.Length; t++)
                rendezvousAll[e, t] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            for (var s = 0; s < Subscriptions; s++)
            {
                if (behaviours[e, s] == Behaviour.Rendezvous)
                    rendezvousExpected[e, tierOf[s]]++;
            }
        }

        var calls = new int[Events, Subscriptions];
        var eventIds = new Guid[Events];
        var children = new ConcurrentDictionary<(int Event, int Subscription), ConcurrentBag<Guid>>();
        var wrongAmbient = new ConcurrentQueue<string>();
        using var limit = new CancellationTokenSource(TestTimeout.Default);

        await using var bus = EventBus.Create(new EventBusOptions
        {
            HandlerConcurrency = HandlerConcurrency.Parallel,
            MaxConcurrentEvents = maxConcurrentEvents,
            Capacity = 10_000,
        });

        for (var s = 0; s < Subscriptions; s++)
        {
            var index = s;
            var name = $"h{s}";
            bus.Subscribe<Step, string>(
                async (step, context, ct) =>
                {
                    var n = step.N;
                    Interlocked.Increment(ref calls[n, index]);
                    CheckAmbient(context, n, name, "before its await");
                    Publish(n, index);
                    switch (behaviours[n, index])
                    {
                        case Behaviour.Sync:
                            return name;
                        case Behaviour.SyncThrow:
                            throw new InvalidOperationException($"{name} failed synchronously");
                        case Behaviour.Async:
                            await Task.Yield();
                            break;
                        case Behaviour.AsyncThrow:
                            await Task.Yield();
                            throw new InvalidOperationException($"{name} failed asynchronously");
                        case Behaviour.Slow:
                            await Task.Delay(1 + (n % 3), ct);
                            break;
                        case Behaviour.Rendezvous:
                            var tier = tierOf[index];
                            if (Interlocked.Increment(ref rendezvousStarted[n, tier]) == rendezvousExpected[n, tier])
                                rendezvousAll[n, tier].SetResult();
                            // Ends only once every rendezvous handler of its tier started: a serial tier would time out here.
                            await rendezvousAll[n, tier].Task.WaitAsync(ct).WaitAsync(limit.Token);
                            break;
                    }

                    CheckAmbient(context, n, name, "after its await");
                    Publish(n, index);
                    return name;
                },
                new SubscriptionOptions { Name = name, Priority = priorities[s], HandlerTimeout = policy && s == 0 ? TimeSpan.FromMinutes(5) : null });
        }

        var pending = new List<(int Event, Task<EventOutcome?> Outcome)>();
        for (var e = 0; e < Events; e++)
        {
            var step = new Step(e);
            var options = completions[e] == CompletionMode.First ? new PublishOptions { Completion = CompletionMode.First } : null;
            switch (dispatches[e])
            {
                case Dispatch.Queued:
                    var handle = await bus.PublishAsync(step, options, limit.Token);
                    eventIds[e] = handle.EventId;
                    pending.Add((e, Outcome(handle.AsValueTask())));
                    break;
                case Dispatch.Invoke:
                    pending.Add((e, Outcome(bus.InvokeAsync(step, options, limit.Token))));
                    break;
                case Dispatch.Send:
                    pending.Add((e, Sent(bus.SendAsync(step, cancellationToken: limit.Token))));
                    break;
            }
        }

        foreach (var (e, task) in pending)
        {
            EventOutcome? outcome;
            try
            {
                outcome = await task.Within();
            }
            catch (Exception ex) when (dispatches[e] == Dispatch.Send && ex is not TimeoutException)
            {
                // SendAsync throws when the event failed; only All completion is sent this way.
                Assert.True(ExpectFailure(e), $"event {e} ({dispatches[e]}): SendAsync threw {ex.GetType().Name} but every handler should succeed");
                CheckCalls(e, winner: -1);
                continue;
            }

            var winner = completions[e] == CompletionMode.First ? WinningTier(e) : -1;
            CheckCalls(e, winner);
            if (outcome is null)
            {
                Assert.False(ExpectFailure(e), $"event {e} ({dispatches[e]}): SendAsync returned but a handler should have failed");
                continue;
            }

            Assert.Equal(order.Select(s => $"h{s}"), outcome.Handlers.Select(r => r.SubscriptionName));
            var expectedStatus = winner >= 0 ? EventStatus.Completed : ExpectFailure(e) ? EventStatus.Failed : EventStatus.Completed;
            Assert.True(expectedStatus == outcome.Status, $"event {e} ({dispatches[e]}, {completions[e]}): status {outcome.Status}, expected {expectedStatus}");
            for (var position = 0; position < Subscriptions; position++)
            {
                var s = order[position];
                var result = outcome.Handlers[position];
                var what = $"event {e} ({dispatches[e]}, {completions[e]}), h{s} ({behaviours[e, s]}, tier {tierOf[s]}, winner {winner})";
                if (winner >= 0 && tierOf[s] > winner)
                {
                    Assert.True(result.Status == HandlerStatus.Skipped, $"{what}: {result.Status}, expected Skipped after the winning tier");
                    continue;
                }

                if (behaviours[e, s] is Behaviour.SyncThrow or Behaviour.AsyncThrow)
                {
                    Assert.True(result.Status == HandlerStatus.Failed, $"{what}: {result.Status}, expected Failed");
                    Assert.IsType<InvalidOperationException>(result.Exception);
                }
                else if (winner == tierOf[s] && behaviours[e, s] is Behaviour.Slow or Behaviour.Rendezvous)
                {
                    // First-wins cancels the rest of the winning tier: a handler that honours its token may end cancelled.
                    Assert.True(result.Status is HandlerStatus.Succeeded or HandlerStatus.Cancelled, $"{what}: {result.Status}");
                }
                else
                {
                    Assert.True(result.Status == HandlerStatus.Succeeded, $"{what}: {result.Status}, expected Succeeded");
                    Assert.Equal($"h{s}", result.Value);
                }

                var published = children.TryGetValue((e, s), out var bag) ? bag.OrderBy(g => g).ToArray() : [];
                Assert.True(published.SequenceEqual(result.ChildEventIds.OrderBy(g => g)), $"{what}: children listed {result.ChildEventIds.Count}, published {published.Length}");
            }

            if (dispatches[e] == Dispatch.Queued)
                Assert.Equal(eventIds[e], outcome.Context.EventId);
        }

        Assert.True(wrongAmbient.IsEmpty, string.Join(Environment.NewLine, wrongAmbient.Take(10)));

        void CheckAmbient(EventContext context, int n, string name, string when)
        {
            if (!ReferenceEquals(EventContext.Current, context) && EventContext.Current?.EventId != context.EventId)
                wrongAmbient.Enqueue($"event {n} ({dispatches[n]}, {completions[n]}), {name} ({behaviours[n, name[1] - '0']}) {when}: EventContext.Current is {EventContext.Current?.EventId.ToString() ?? "null"}, expected {context.EventId}");
        }

        void Publish(int n, int s)
        {
            // Room for every note: the publish completes at once, attributed to the handler running it.
            var note = bus.PublishAsync(new Note(n));
            Assert.True(note.IsCompletedSuccessfully);
            children.GetOrAdd((n, s), static _ => []).Add(note.Result.EventId);
        }

        bool ExpectFailure(int e)
        {
            for (var s = 0; s < Subscriptions; s++)
            {
                if (behaviours[e, s] is Behaviour.SyncThrow or Behaviour.AsyncThrow)
                    return true;
            }

            return false;
        }

        // The first tier with a handler that can succeed; -1 when every handler throws.
        int WinningTier(int e)
        {
            for (var t = 0; t < tiers.Length; t++)
            {
                for (var s = 0; s < Subscriptions; s++)
                {
                    if (tierOf[s] == t && behaviours[e, s] is not (Behaviour.SyncThrow or Behaviour.AsyncThrow))
                        return t;
                }
            }

            return -1;
        }

        void CheckCalls(int e, int winner)
        {
            for (var s = 0; s < Subscriptions; s++)
            {
                // Every handler of a tier that ran starts, even after another one of it won; later tiers never run.
                var expected = winner >= 0 && tierOf[s] > winner ? 0 : 1;
                Assert.True(expected == Volatile.Read(ref calls[e, s]), $"event {e} ({dispatches[e]}, {completions[e]}): h{s} ran {calls[e, s]} time(s), expected {expected}");
            }
        }
    }

    private static async Task<EventOutcome?> Outcome(ValueTask<EventOutcome> pending) => await pending;

    private static async Task<EventOutcome?> Sent(ValueTask pending)
    {
        await pending;
        return null;
    }
}
