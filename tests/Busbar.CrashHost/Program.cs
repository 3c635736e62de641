using Busbar;
using Busbar.CrashHost;

// Usage: Busbar.CrashHost <directory> [--recover-only] [--hold] [--slow] [--publishers N] [--start SEQ] [--max-seconds S]
//
// Output, one line each, flushed at once:
//   S <waiting>        the log is open; <waiting> recovered events wait for the subscription
//   P <problem>        a problem recovery found in the log (a torn tail is expected after a kill)
//   B <seq> <attempt>  a handler started (only with --slow)
//   H <seq> <attempt>  a handler finished the event
//   R <count>          the recovered events are all handled (PendingEvents 0, nothing in flight)
//   A <seq>            PublishAsync returned: the event is acknowledged, so durable (FlushMode Always)
//   D <left-in-log>    the bus stopped cleanly (--recover-only, or after --max-seconds)
var settings = CrashHostSettings.Parse(args);
var output = new LineOutput(Console.OpenStandardOutput());

await using var bus = new EventBusBuilder()
    .WithOptions(new EventBusOptions { Name = "crash-host", MaxConcurrentEvents = settings.Slow ? 2 : 4 })
    .RegisterEvent<Tick>()
    .UseWriteAheadLog(settings.Directory, new System.Text.Json.JsonSerializerOptions { TypeInfoResolver = CrashJsonContext.Default }, new WriteAheadLogOptions { FlushMode = WalFlushMode.Always })
    .Build();

var recovered = bus.GetWriteAheadLogStatus()!.PendingEvents;
output.Line($"S {recovered}");
foreach (var problem in bus.GetWriteAheadLogStatus()!.Problems)
    output.Line($"P {problem}");

bus.Subscribe<Tick>(async (tick, context, cancellationToken) =>
{
    if (settings.Slow)
    {
        output.Line($"B {tick.Seq} {context.Attempt}");
        await Task.Delay(settings.HandlerDelay, cancellationToken);
    }
    else
    {
        await Task.Yield();
    }

    output.Line($"H {tick.Seq} {context.Attempt}");
}, new SubscriptionOptions { Name = "crash-handler" });

// Recovered events were dispatched when the subscription was registered: wait until they are handled.
using (var recovery = new CancellationTokenSource(settings.MaxRecovery))
{
    while (bus.GetWriteAheadLogStatus()!.PendingEvents > 0 || bus.GetStatistics().InFlight > 0)
    {
        if (recovery.IsCancellationRequested)
        {
            output.Line($"X recovery did not finish: waiting {bus.GetWriteAheadLogStatus()!.PendingEvents}, in flight {bus.GetStatistics().InFlight}");
            return 2;
        }

        await Task.Delay(1);
    }
}

output.Line($"R {recovered}");

// The run limit starts once recovery is done, so a long recovery does not shorten the publishing that follows.
using var deadline = new CancellationTokenSource(settings.MaxRun);

if (settings.Hold)
{
    // Keep the log (and its directory lock) open until the test closes stdin.
    await Console.In.ReadLineAsync(deadline.Token).AsTask().ContinueWith(static _ => { }, TaskScheduler.Default);
}
else if (!settings.RecoverOnly)
{
    // Publish until killed (or the run limit, so a forgotten host cannot run forever).
    var next = settings.Start - 1;
    var publishers = Enumerable.Range(0, settings.Publishers).Select(_ => Task.Run(async () =>
    {
        while (!deadline.IsCancellationRequested)
        {
            var seq = Interlocked.Increment(ref next);
            await bus.PublishAsync(new Tick(seq));
            output.Line($"A {seq}");
        }
    }));
    await Task.WhenAll(publishers);
}

var report = await bus.StopAsync();
output.Line($"D {report.PendingInLog}");
return 0;
