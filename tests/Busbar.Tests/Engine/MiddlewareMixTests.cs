using Xunit.Abstractions;

namespace Busbar.Tests.Engine;

/// <summary>
/// Where middleware meets the rest: a randomized mix (fixed, printed seed) of middlewares that pass, skip, throw
/// before the handler or swallow its failure, handlers that fail once or always under a retry policy, queued and
/// inline dispatch, serial and parallel handlers, several events at a time. Every invocation must end as its
/// middleware and handler say, with exact counts of handler calls, attempts and dead letters.
/// </summary>
public sealed class MiddlewareMixTests(ITestOutputHelper output)
{
    private const int Events = 150;
    private const int Subscriptions = 4;

    private enum Mode
    {
        Pass,
        Skip,
        ThrowBefore,
        Swallow,
    }

    [Theory]
    [InlineData(3)]
    [InlineData(17)]
    [InlineData(101)]
    public async Task RandomMix_EveryInvocationEndsAsItsMiddlewareAndHandlerSay(int seed)
    {
        var random = new Random(seed);
        var modes = new Mode[Events, Subscriptions];
        var failFirst = new bool[Events, Subscriptions];
        var failAlways = new bool[Events, Subscriptions];
        var inline = new bool[Events];
        for (var e = 0; e < Events; e++)
        {
            inline[e] = random.Next(3) == 0;
            for (var s = 0; s < Subscriptions; s++)
            {
                modes[e, s] = (Mode)random.Next(4);
                failAlways[e, s] = random.Next(6) == 0;
                failFirst[e, s] = !failAlways[e, s] && random.Next(4) == 0;
            }
        }

        var concurrency = random.Next(2) == 0 ? HandlerConcurrency.Serial : HandlerConcurrency.Parallel;
        var maxConcurrentEvents = random.Next(1, 5);
        output.WriteLine($"seed {seed}: {concurrency} handlers, {maxConcurrentEvents} event(s) at a time, {inline.Count(i => i)} of {Events} inline");

        var calls = new int[Events, Subscriptions];
        long attemptsSeen = 0;
        await using var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { HandlerConcurrency = concurrency, MaxConcurrentEvents = maxConcurrentEvents, DeadLetterInlineFailures = true })
            .Use((invocation, next) =>
            {
                Interlocked.Increment(ref attemptsSeen);
                return next(invocation);
            })
            .Use<Ping>(async (ping, invocation, next) =>
            {
                var s = Index(invocation.Subscription.Name);
                switch (modes[ping.Value, s])
                {
                    case Mode.Skip:
                        return;
                    case Mode.ThrowBefore:
                        throw new UnauthorizedAccessException($"denied {ping.Value}/{s}");
                    case Mode.Swallow:
                        try
                        {
                            await next(invocation);
                        }
                        catch (InvalidOperationException)
                        {
                            // Handled by the middleware: the invocation succeeds.
                        }

                        return;
                    default:
                        await next(invocation);
                        return;
                }
            })
            .Build();
        for (var s = 0; s < Subscriptions; s++)
        {
            var index = s;
            bus.Subscribe<Ping>(async (ping, context, _) =>
            {
                Interlocked.Increment(ref calls[ping.Value, index]);
                if (ping.Value % 2 == 0)
                    await Task.Yield();
                if (failAlways[ping.Value, index] || (failFirst[ping.Value, index] && context.Attempt == 1))
                    throw new InvalidOperationException($"handler {ping.Value}/{index} failed on attempt {context.Attempt}");
            }, new SubscriptionOptions { Name = $"s{s}", Retry = RetryPolicy.Constant(2, TimeSpan.FromMilliseconds(1)) });
        }

        var outcomes = new Task<EventOutcome>[Events];
        for (var e = 0; e < Events; e++)
        {
            outcomes[e] = inline[e]
                ? bus.InvokeAsync(new Ping(e)).AsTask()
                : (await bus.PublishAsync(new Ping(e))).AsTask();
        }

        var ended = await Task.WhenAll(outcomes).WaitAsync(TimeSpan.FromSeconds(60));

        var violations = new List<string>();
        long expectedAttempts = 0, expectedDeadLetters = 0;
        for (var e = 0; e < Events; e++)
        {
            var outcome = ended[e];
            var anyFailed = false;
            for (var s = 0; s < Subscriptions; s++)
            {
                var (status, attempts, handlerCalls) = Expected(modes[e, s], failFirst[e, s], failAlways[e, s]);
                anyFailed |= status == HandlerStatus.Failed;
                expectedAttempts += attempts;
                if (status == HandlerStatus.Failed)
                    expectedDeadLetters++;
                var result = outcome.Handlers.Single(h => h.SubscriptionName == $"s{s}");
                if (result.Status != status || result.Attempts != attempts || Volatile.Read(ref calls[e, s]) != handlerCalls)
                {
                    violations.Add($"event {e} s{s} ({modes[e, s]}, failFirst {failFirst[e, s]}, failAlways {failAlways[e, s]}): "
                        + $"{result.Status} after {result.Attempts}, {calls[e, s]} call(s); expected {status} after {attempts}, {handlerCalls} call(s)");
                }
            }

            var expectedStatus = anyFailed ? EventStatus.Failed : EventStatus.Completed;
            if (outcome.Status != expectedStatus)
                violations.Add($"event {e}: {outcome.Status}, expected {expectedStatus}");
        }

        if (Interlocked.Read(ref attemptsSeen) != expectedAttempts)
            violations.Add($"the outer middleware saw {attemptsSeen} attempts, expected {expectedAttempts}");
        if (bus.DeadLetters.Count != expectedDeadLetters)
            violations.Add($"{bus.DeadLetters.Count} dead letters, expected {expectedDeadLetters}");
        Assert.True(violations.Count == 0, $"seed {seed}: {violations.Count} violations: {string.Join(" | ", violations.Take(10))}");
    }

    private static int Index(string subscription) => subscription[1] - '0';

    private static (HandlerStatus Status, int Attempts, int HandlerCalls) Expected(Mode mode, bool failFirst, bool failAlways) => mode switch
    {
        Mode.Skip => (HandlerStatus.Skipped, 1, 0),
        Mode.ThrowBefore => (HandlerStatus.Failed, 2, 0),
        Mode.Swallow => (HandlerStatus.Succeeded, 1, 1),
        _ when failAlways => (HandlerStatus.Failed, 2, 2),
        _ when failFirst => (HandlerStatus.Succeeded, 2, 2),
        _ => (HandlerStatus.Succeeded, 1, 1),
    };
}
