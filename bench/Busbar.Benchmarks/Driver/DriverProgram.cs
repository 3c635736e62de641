using System.Text;
using System.Threading.Channels;
using Busbar.Benchmarks.Driver.Transports;
using Busbar.Benchmarks.Infrastructure;
using Busbar.Benchmarks.Pipelines;

namespace Busbar.Benchmarks.Driver;

/// <summary>
/// The measurements BenchmarkDotNet does not fit: whole-pipeline throughput against the slow peers,
/// latency percentiles, peak memory under overload, fan-out. Writes one markdown file.
/// </summary>
public static class DriverProgram
{
    private const string Usage = """
        Usage: Busbar.Benchmarks driver [--dry] [--out FILE] [one of --throughput-only | --latency-only | --transports-only | --fanout-only | --durability-only]
          (no scenario flag)   every scenario, (a) to (h), in one report
          --throughput-only    (a) queued throughput, 1 producer → 1 handler, against the raw channel and the peers
          --latency-only       (b) and (g): round trips, warm and in fresh processes
          --transports-only    (h) Redis and NATS through the bus next to the raw clients (starts redis-server and nats-server)
          --fanout-only        (d) fan-out to 8 handlers, Parallel and Serial tier
          --durability-only    (f) durable publish: write-ahead log flush modes, the disk floor and SQLite
          --dry                tiny counts: proves the scenarios run; the numbers mean nothing
          --out FILE           also write the markdown report to FILE (it is always printed)
        """;

    private static readonly HashSet<string> s_flags = ["--dry", "--out", "--throughput-only", "--latency-only", "--transports-only", "--fanout-only", "--durability-only", "--help", "-h"];

    public static async Task<int> RunAsync(string[] args)
    {
        var settings = new DriverSettings(Dry: args.Contains("--dry"));
        if (FreshProcessLatencyScenario.IsChild(args))
            return await FreshProcessLatencyScenario.RunChildAsync(settings, args);
        if (TransportScenario.IsChild(args))
            return await TransportScenario.RunChildAsync(settings, args);

        var outIndex = Array.IndexOf(args, "--out");
        var output = outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : null;
        var unknown = args.Where((a, i) => !s_flags.Contains(a) && !(output is not null && i == outIndex + 1)).ToList();
        if (args.Contains("--help") || args.Contains("-h") || unknown.Count > 0 || (outIndex >= 0 && output is null))
        {
            var help = args.Contains("--help") || args.Contains("-h");
            if (!help)
                Console.Error.WriteLine(unknown.Count > 0 ? $"driver: unknown argument '{unknown[0]}'" : "driver: --out needs a file");
            (help ? Console.Out : Console.Error).WriteLine(Usage);
            return help ? 0 : 2;
        }

        var report = new StringBuilder();
        report.AppendLine("# Busbar driver results");
        report.AppendLine();
        report.AppendLine(MachineInfo.MarkdownHeader());
        report.AppendLine(settings.Dry ? "- Mode: **dry** (tiny counts; numbers mean nothing)" : "- Mode: full");
        report.AppendLine();

        if (args.Contains("--throughput-only"))
        {
            report.Append(await ThroughputScenario.RunAsync(settings, ThroughputRows(settings)));
            return await WriteAsync(report.ToString(), output, 0);
        }

        if (args.Contains("--latency-only"))
        {
            report.Append(await FreshProcessLatencyScenario.RunAsync(settings));
            report.Append(await LatencyScenario.RunAsync(settings, [new ChannelRoundTrip(settings.Capacity), new BusbarRoundTrip(settings.Capacity)]));
            return await WriteAsync(report.ToString(), output, 0);
        }

        if (args.Contains("--transports-only"))
        {
            var (transports, transportsOk) = await TransportScenario.RunAsync(settings);
            report.Append(transports);
            return await WriteAsync(report.ToString(), output, transportsOk ? 0 : 1);
        }

        if (args.Contains("--fanout-only"))
        {
            report.Append(await FanOutScenario.RunAsync(settings));
            return await WriteAsync(report.ToString(), output, 0);
        }

        if (args.Contains("--durability-only"))
        {
            report.Append(await DurabilityScenario.RunAsync(settings));
            return await WriteAsync(report.ToString(), output, 0);
        }

        // Overload runs first, in a process that has not grown its heap yet, so its working-set
        // baseline is clean; its table still comes third in the report.
        Console.WriteLine("(c) overload");
        List<OverloadResult> overload = [];
        foreach (var mode in new[] { BoundedChannelFullMode.Wait, BoundedChannelFullMode.DropNewest, BoundedChannelFullMode.DropOldest })
        {
            overload.Add(await ChannelOverload.RunAsync(settings, mode));
        }

        foreach (var mode in new[] { BusFullMode.Wait, BusFullMode.DropNewest, BusFullMode.DropOldest, BusFullMode.Reject })
        {
            overload.Add(await BusbarOverload.RunAsync(settings, mode));
        }

        Console.WriteLine("(a) throughput");
        report.Append(await ThroughputScenario.RunAsync(settings, ThroughputRows(settings)));

        Console.WriteLine("(b) latency");
        report.Append(await LatencyScenario.RunAsync(settings,
        [
            new ChannelRoundTrip(settings.Capacity),
            new BusbarRoundTrip(settings.Capacity),
        ]));

        report.Append(OverloadScenario.Report(settings, overload));

        Console.WriteLine("(d) fan-out");
        report.Append(await FanOutScenario.RunAsync(settings));

        Console.WriteLine("(e) subscribe cost");
        report.Append(await SubscribeScenario.RunAsync(settings));

        Console.WriteLine("(f) durable publish");
        report.Append(await DurabilityScenario.RunAsync(settings));

        Console.WriteLine("(g) latency in fresh processes");
        report.Append(await FreshProcessLatencyScenario.RunAsync(settings));

        Console.WriteLine("(h) transports through the bus");
        var (transportText, transportOk) = await TransportScenario.RunAsync(settings);
        report.Append(transportText);

        return await WriteAsync(report.ToString(), output, overload.All(r => r.Accounted) && transportOk ? 0 : 1);
    }

    /// <summary>The rows of (a): the raw channel (the floor), Dataflow, Busbar (one worker, the goal's row, then eight sharing the queue's lock) and the two service buses.</summary>
    private static List<(QueuedPipeline Pipeline, int Events)> ThroughputRows(DriverSettings settings) =>
    [
        (new ChannelPipeline(settings.Capacity), settings.FastEvents),
        (new DataflowPipeline(settings.Capacity), settings.FastEvents),
        (new BusbarPipeline(settings.Capacity), settings.FastEvents),
        (new BusbarPipeline(settings.Capacity, workers: 8), settings.FastEvents),
        (new WolverinePipeline(), settings.WolverineEvents),
        (new MassTransitPipeline(), settings.MassTransitEvents),
    ];

    private static async Task<int> WriteAsync(string text, string? output, int exitCode)
    {
        Console.WriteLine(text);
        if (output is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
            await File.WriteAllTextAsync(output, text);
            Console.WriteLine($"wrote {output}");
        }

        return exitCode;
    }
}
