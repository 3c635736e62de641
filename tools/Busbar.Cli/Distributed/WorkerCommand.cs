using System.CommandLine;
using System.CommandLine.Parsing;
using Busbar.Cli.Broker;

namespace Busbar.Cli.Distributed;

/// <summary>
/// <c>busbar demo-worker &lt;url&gt; --run ID --worker N --concurrency C</c>, hidden: one worker process of
/// <c>busbar demo --transport</c>. It reports on standard output in the <see cref="WorkerLine"/> protocol and stops when
/// its standard input closes (the demo closes it, or died). Ctrl+C alone does not stop it: the terminal sends it to the
/// whole process group, and the demo, not each worker, decides when the workers stop.
/// </summary>
internal static class WorkerCommand
{
    public const string Name = "demo-worker";

    /// <summary>The environment variable that carries the broker password to a worker.</summary>
    public const string PasswordVariable = "BUSBAR_DEMO_BROKER_PASSWORD";

    public static Command Create(CliConsole io)
    {
        var url = BrokerUrl.Argument();
        var run = new Option<string>("--run")
        {
            Description = "The demo run's id (its namespace on the broker).",
            Required = true,
            CustomParser = static result =>
            {
                var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
                if (!DemoNamespace.IsRunId(text))
                    result.AddError($"--run '{text}' is not a demo run id (8 lowercase hex digits).");
                return text;
            },
        };
        var worker = new Option<int?>("--worker") { Description = "This worker's number, from 1. [default: 1]", CustomParser = OptionValues.Positive<int> };
        var concurrency = new Option<int?>("--concurrency") { Description = "Events handled at the same time. [default: 4]", CustomParser = OptionValues.Positive<int> };
        var command = new Command(Name, "One worker process of 'busbar demo --transport' (started by the demo).")
        {
            url, run, worker, concurrency,
        };
        command.Hidden = true;
        command.SetAction(async (result, _) =>
        {
            var space = new DemoNamespace(result.GetRequiredValue(run));
            var number = result.GetValue(worker) ?? 1;
            // The demo passes the password in the environment, not on the command line where ps shows it.
            var broker = result.GetRequiredValue(url);
            if (broker.User is not null && broker.Password is null && Environment.GetEnvironmentVariable(PasswordVariable) is { } password)
                broker = broker with { Password = password };
            using var stop = new CancellationTokenSource();
            WatchInput(stop);
            await using var transport = await space.ConnectAsync(broker, "worker-" + number.ToString(System.Globalization.CultureInfo.InvariantCulture), CancellationToken.None);
            var pipeline = new BusWorkerPipeline(transport, result.GetValue(concurrency) ?? 4, TimeProvider.System);
            await pipeline.RunAsync(new WorkerReporter(io.Out), stop.Token);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// Cancels <paramref name="stop"/> when standard input ends: the demo closed it, or the demo is gone. A thread of its
    /// own, because a console read blocks; it ends with the process.
    /// </summary>
    private static void WatchInput(CancellationTokenSource stop)
    {
        var watcher = new Thread(() =>
        {
            try
            {
                while (Console.In.ReadLine() is not null)
                {
                }
            }
            catch (IOException)
            {
                // A broken pipe is an end of input too.
            }

            try
            {
                stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The worker already finished.
            }
        })
        {
            IsBackground = true,
            Name = "busbar demo-worker stdin",
        };
        watcher.Start();
    }
}
