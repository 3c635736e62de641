using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Busbar.Benchmarks.Driver.Transports;

/// <summary>
/// (h) The transports through the bus (issues 14 and 15), each Busbar row next to the raw client's row of the same work
/// in the same run: publish throughput, consume + ack throughput, and publish → handler latency on loopback (warm, and in
/// fresh processes). One redis-server and one nats-server, started here on free loopback ports, serve every row.
/// </summary>
public static class TransportScenario
{
    private const string ChildFlag = "--transport-latency-child";
    private const int Blocks = 4;
    private const double LatencyGoalP50 = 2_000;
    private const double LatencyGoalP99 = 10_000;

    private static readonly (string Engine, string Kind)[] s_latencyRows = [("redis", "raw"), ("redis", "bus"), ("nats", "raw"), ("nats", "bus")];

    /// <summary>True when <paramref name="args"/> asks this process to be one fresh-process latency child.</summary>
    public static bool IsChild(string[] args) => args.Contains(ChildFlag);

    /// <summary>The child: <c>--transport-latency-child ENGINE KIND ADDRESS</c>; warms up, measures, prints one sample (µs) per line.</summary>
    public static async Task<int> RunChildAsync(DriverSettings settings, string[] args)
    {
        var at = Array.IndexOf(args, ChildFlag);
        // A little shorter than the parent's limit, so a child that hangs fails by itself with the stack of what it waited for.
        using var limit = new CancellationTokenSource(settings.ScenarioLimit * 0.9);
        await using var row = await CreateLatencyRowAsync(args[at + 1], args[at + 2], args[at + 3], limit.Token);
        Console.Error.WriteLine("connected");
        var sequence = 0L;
        for (var i = 0; i < settings.TransportFreshWarmup; i++)
            await row.SampleAsync(sequence++, limit.Token);
        Console.Error.WriteLine("warmed up");

        var output = new StringBuilder();
        for (var i = 0; i < settings.TransportFreshSamples; i++)
            output.AppendLine((await row.SampleAsync(sequence++, limit.Token)).ToString("0.###", CultureInfo.InvariantCulture));
        Console.Out.Write(output.ToString());
        return 0;
    }

    /// <summary>Runs every row; <c>Ok</c> is false when a row failed (its cell says why) so the driver exits non-zero.</summary>
    public static async Task<(string Text, bool Ok)> RunAsync(DriverSettings settings)
    {
        await using var redis = await RedisRows.StartAsync();
        await using var nats = await NatsRows.StartAsync();
        var ok = true;
        var text = new StringBuilder();
        text.AppendLine("## (h) Transports through the bus: Redis Streams and NATS JetStream (issues 14, 15)");
        text.AppendLine();
        text.AppendLine("One redis-server 7 (no persistence) and one nats-server -js (file store) on loopback, started by the driver; " +
            "client and server share the machine's cores. Each Busbar row is measured in the same run as the raw client row above it, " +
            $"{settings.TransportRounds} rounds interleaved (raw, transport, Busbar, raw, …) after a warm-up round of a tenth of the events; the table gives the median round of each row, and " +
            "÷ raw is the median of the rounds' ratios (each round against the raw round just before it). The middle row of each group is Busbar's transport " +
            "API alone (`IEventTransport`, no bus), so a gap shows whether it lies in the transport or in the bus above it.");
        text.AppendLine();

        Comparison[] comparisons =
        [
            new("raw StackExchange.Redis XADD, 256 in flight", "Busbar.Redis transport PublishAsync, batches of 256", "Busbar bus.PublishAsync → Redis, 256 handles awaited together",
                settings.RedisPublishEvents, 0.6, redis.RawPublishAsync, redis.TransportPublishAsync, redis.BusPublishAsync),
            new("raw JetStream publish with Nats-Msg-Id, 256 in flight", "Busbar.Nats transport PublishAsync, batches of 256", "Busbar bus.PublishAsync → NATS, 256 handles awaited together",
                settings.NatsPublishEvents, 0.7, nats.RawPublishAsync, nats.TransportPublishAsync, nats.BusPublishAsync),
            new("raw XREADGROUP COUNT 500 + batched XACK", "Busbar.Redis transport deliveries + AckAsync", "Busbar bus consuming from Redis, no-op handler, until all acked",
                settings.RedisConsumeEvents, 0.5, redis.RawConsumeAsync, redis.TransportConsumeAsync, redis.BusConsumeAsync),
            new("raw ConsumeAsync (500 buffered) + AckAsync", "Busbar.Nats transport deliveries + AckAsync", "Busbar bus consuming from NATS, no-op handler, until all acked",
                settings.NatsConsumeEvents, 0.7, nats.RawConsumeAsync, nats.TransportConsumeAsync, nats.BusConsumeAsync),
        ];

        var throughput = new MarkdownTable("Row", "Events per round", "Events/s (median)", "Min – max events/s", "÷ raw (median of round ratios)", "Goal", "Met");
        foreach (var comparison in comparisons)
        {
            Console.WriteLine($"  {comparison.Raw} / {comparison.Transport} / {comparison.Bus}");
            try
            {
                var (raw, transport, bus) = await MeasureAsync(settings, comparison);
                var transportRatio = PairedRatio(raw, transport);
                var busRatio = PairedRatio(raw, bus);
                throughput.Add(comparison.Raw, MarkdownTable.Count(comparison.Events), MarkdownTable.Rate(ThroughputScenario.Median(raw)), Range(raw), "baseline", "", "");
                throughput.Add(comparison.Transport, MarkdownTable.Count(comparison.Events), MarkdownTable.Rate(ThroughputScenario.Median(transport)), Range(transport), MarkdownTable.Ratio(transportRatio), "(transport API alone)", "");
                throughput.Add("**" + comparison.Bus + "**", MarkdownTable.Count(comparison.Events), MarkdownTable.Rate(ThroughputScenario.Median(bus)), Range(bus), MarkdownTable.Ratio(busRatio),
                    $"≥ {comparison.Goal.ToString("0.0", CultureInfo.InvariantCulture)}×", busRatio >= comparison.Goal ? "yes" : "**no**");
            }
            catch (Exception ex)
            {
                ok = false;
                Console.Error.WriteLine($"transport row failed: {comparison.Bus}: {ex}");
                throughput.Add(comparison.Raw + " / " + comparison.Bus, MarkdownTable.Count(comparison.Events), $"failed: {ex.GetType().Name}: {ex.Message}", "", "", "", "");
            }
        }

        text.AppendLine("### Throughput");
        text.AppendLine();
        text.AppendLine("Publish rows: a windowed loop, 256 publishes started and then awaited together, and again — raw: the client's publish tasks " +
            "(XADD; JetStream publish awaiting its PubAck); Busbar: on a bus built with `UseRedis` / `UseNats`, `bus.PublishAsync(event)` 256 times, then each " +
            "handle awaited, which on a bus with a transport completes when the broker accepted the event (as a user awaiting the handle would). The raw rows send the ~100-byte JSON " +
            "body alone; Busbar sends its envelope (ids, name, time, body). The transport publish row sends events encoded beforehand in batches of 256. " +
            "Consume rows: the stream is filled beforehand (not measured); the clock runs from creating the group or consumer (raw) or building the bus " +
            $"with `UseTransport` over the transport that filled the stream (so connecting is not timed) and subscribing one no-op handler (Busbar, `MaxConcurrentEvents = {TransportBench.ConsumerConcurrency}`, so " +
            $"{TransportBench.ConsumerConcurrency} deliveries in flight; Redis `ReadBatchSize = 500`) or subscribing the transport alone (same in-flight bound, " +
            "each delivery acked, 256 acks awaited together, no envelope decoded) until the broker counts no entry pending or unacknowledged.");
        text.AppendLine();
        text.Append(throughput);
        text.AppendLine();

        Console.WriteLine("  latency (warm)");
        var (latency, latencyOk) = await LatencyAsync(settings, redis.Configuration, nats.Url);
        text.Append(latency);
        Console.WriteLine("  latency (fresh processes)");
        try
        {
            text.Append(await FreshLatencyAsync(settings, redis.Configuration, nats.Url));
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"transport fresh-process latency failed: {ex}");
            text.AppendLine($"**Fresh-process latency failed:** {ex.GetType().Name}: {ex.Message}").AppendLine();
            return (text.ToString(), false);
        }

        return (text.ToString(), ok && latencyOk);
    }

    private static async Task<(List<double> Raw, List<double> Transport, List<double> Bus)> MeasureAsync(DriverSettings settings, Comparison comparison)
    {
        using var limit = new CancellationTokenSource(settings.ScenarioLimit);
        var warmup = Math.Max(TransportBench.Window, comparison.Events / 10);
        await comparison.RunRaw(warmup, limit.Token);
        await comparison.RunTransport(warmup, limit.Token);
        await comparison.RunBus(warmup, limit.Token);
        List<double> raw = [];
        List<double> transport = [];
        List<double> bus = [];
        for (var round = 0; round < settings.TransportRounds; round++)
        {
            raw.Add(comparison.Events / (await comparison.RunRaw(comparison.Events, limit.Token)).TotalSeconds);
            transport.Add(comparison.Events / (await comparison.RunTransport(comparison.Events, limit.Token)).TotalSeconds);
            bus.Add(comparison.Events / (await comparison.RunBus(comparison.Events, limit.Token)).TotalSeconds);
            Console.WriteLine($"    round {round + 1}: raw {MarkdownTable.Rate(raw[^1])}/s, transport {MarkdownTable.Rate(transport[^1])}/s, Busbar {MarkdownTable.Rate(bus[^1])}/s");
        }

        return (raw, transport, bus);
    }

    /// <summary>
    /// The median of the rounds' ratios: rounds are paired (raw, then the others right after it), so a slow stretch of a shared
    /// machine hurts both sides of one ratio.
    /// </summary>
    private static double PairedRatio(List<double> raw, List<double> other) => ThroughputScenario.Median(raw.Select((r, i) => other[i] / r).ToList());

    private static async Task<(string Text, bool Ok)> LatencyAsync(DriverSettings settings, string redis, string nats)
    {
        using var limit = new CancellationTokenSource(settings.ScenarioLimit);
        var rows = new List<ILatencyRow>();
        var samples = s_latencyRows.Select(_ => new List<double>(settings.TransportLatencySamples)).ToArray();
        string? failure = null;
        try
        {
            foreach (var (engine, kind) in s_latencyRows)
                rows.Add(await CreateLatencyRowAsync(engine, kind, engine == "redis" ? redis : nats, limit.Token));

            var sequences = new long[rows.Count];
            for (var r = 0; r < rows.Count; r++)
            {
                for (var i = 0; i < settings.TransportLatencyWarmup; i++)
                    await rows[r].SampleAsync(sequences[r]++, limit.Token);
            }

            var perBlock = Math.Max(1, settings.TransportLatencySamples / Blocks);
            for (var block = 0; block < Blocks; block++)
            {
                for (var r = 0; r < rows.Count; r++)
                {
                    for (var i = 0; i < perBlock; i++)
                        samples[r].Add(await rows[r].SampleAsync(sequences[r]++, limit.Token));
                }
            }
        }
        catch (Exception ex)
        {
            failure = $"{ex.GetType().Name}: {ex.Message}";
            Console.Error.WriteLine($"transport latency failed: {ex}");
        }
        finally
        {
            foreach (var row in rows)
                await row.DisposeAsync();
        }

        var text = new StringBuilder();
        text.AppendLine("### Publish → handler latency, warm");
        text.AppendLine();
        text.AppendLine($"Sequential: one event published, then the next once it reached its handler; {MarkdownTable.Count(settings.TransportLatencySamples)} samples per row " +
            $"after {settings.TransportLatencyWarmup} of warm-up, in {Blocks} alternating blocks. A sample runs from just before the publish call (the timestamp travels in the event) " +
            "to the handler's first line (raw: the consumer loop's, after parsing the body); the publisher also awaits the broker's acceptance before the next event. " +
            "Busbar rows: two buses in this one process (one publishing, one consuming in its own group, one handler), each with its own transport connection. " +
            "Raw Redis: XADD on one connection, a loop blocking in `XREADGROUP … BLOCK 200` on another. Raw NATS: JetStream publish on one connection, " +
            "`ConsumeAsync` on a durable pull consumer on another. Ratios are against the same engine's raw row. Goal (issues 14, 15): p50 ≤ 2 ms, p99 ≤ 10 ms.");
        text.AppendLine();
        if (failure is not null)
            text.AppendLine($"**Failed:** {failure}").AppendLine();
        text.Append(LatencyTable(s_latencyRows.Select((r, i) => (r, Name(r), samples[i])).ToList(), $"{MarkdownTable.Count(settings.TransportLatencySamples)}"));
        text.AppendLine();
        return (text.ToString(), failure is null);
    }

    private static async Task<string> FreshLatencyAsync(DriverSettings settings, string redis, string nats)
    {
        var samples = s_latencyRows.Select(_ => new List<double>()).ToArray();
        for (var p = 0; p < settings.TransportFreshProcesses; p++)
        {
            for (var r = 0; r < s_latencyRows.Length; r++)
            {
                var (engine, kind) = s_latencyRows[r];
                samples[r].AddRange(await RunChildProcessAsync(settings, engine, kind, engine == "redis" ? redis : nats));
            }
        }

        var text = new StringBuilder();
        text.AppendLine("### Publish → handler latency in fresh processes");
        text.AppendLine();
        text.AppendLine($"The same rows, each sample set from a new process (processes alternate between the rows) that connects, runs {settings.TransportFreshWarmup} " +
            $"round trips of warm-up and measures {MarkdownTable.Count(settings.TransportFreshSamples)}: what a service that just started sees. The servers stay up across processes.");
        text.AppendLine();
        text.Append(LatencyTable(s_latencyRows.Select((r, i) => (r, Name(r), samples[i])).ToList(), $"{settings.TransportFreshProcesses} × {MarkdownTable.Count(settings.TransportFreshSamples)}"));
        text.AppendLine();
        return text.ToString();
    }

    private static string LatencyTable(List<((string Engine, string Kind) Row, string Name, List<double> Samples)> rows, string count)
    {
        var table = new MarkdownTable("Row", "Samples", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "p50 ÷ raw", "p99 ÷ raw", "Goal met (p50 ≤ 2 ms, p99 ≤ 10 ms)");
        foreach (var (row, name, samples) in rows)
        {
            if (samples.Count == 0)
            {
                table.Add(name, "0", "", "", "", "", "", "", "");
                continue;
            }

            var raw = rows.First(r => r.Row.Engine == row.Engine && r.Row.Kind == "raw").Samples;
            var p50 = LatencyScenario.Percentile(samples, 0.50);
            var p99 = LatencyScenario.Percentile(samples, 0.99);
            var isRaw = row.Kind == "raw";
            table.Add(
                name,
                count,
                MarkdownTable.Number(p50, "0"),
                MarkdownTable.Number(LatencyScenario.Percentile(samples, 0.90), "0"),
                MarkdownTable.Number(p99, "0"),
                MarkdownTable.Number(LatencyScenario.Percentile(samples, 0.999), "0"),
                isRaw || raw.Count == 0 ? "baseline" : MarkdownTable.Ratio(p50 / LatencyScenario.Percentile(raw, 0.50)),
                isRaw || raw.Count == 0 ? "baseline" : MarkdownTable.Ratio(p99 / LatencyScenario.Percentile(raw, 0.99)),
                p50 <= LatencyGoalP50 && p99 <= LatencyGoalP99 ? "yes" : "**no**");
        }

        return table.ToString();
    }

    private static string Name((string Engine, string Kind) row) => (row.Engine, row.Kind) switch
    {
        ("redis", "raw") => "Redis raw: XADD → XREADGROUP BLOCK loop",
        ("redis", "bus") => "Busbar bus.PublishAsync → Redis → handler",
        ("nats", "raw") => "NATS raw: JetStream publish → ConsumeAsync loop",
        _ => "Busbar bus.PublishAsync → NATS → handler",
    };

    private static Task<ILatencyRow> CreateLatencyRowAsync(string engine, string kind, string address, CancellationToken cancellationToken) => engine switch
    {
        "redis" => RedisRows.CreateLatencyRowAsync(kind, address, cancellationToken),
        "nats" => NatsRows.CreateLatencyRowAsync(kind, address, cancellationToken),
        _ => throw new ArgumentException($"unknown transport '{engine}' (redis or nats)", nameof(engine)),
    };

    private static string Range(List<double> rates) => $"{MarkdownTable.Rate(rates.Min())} – {MarkdownTable.Rate(rates.Max())}";

    private static async Task<List<double>> RunChildProcessAsync(DriverSettings settings, string engine, string kind, string address)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var entry = typeof(TransportScenario).Assembly.Location;
        if (!Path.GetFileNameWithoutExtension(Environment.ProcessPath!).Equals(Path.GetFileNameWithoutExtension(entry), StringComparison.Ordinal))
            start.ArgumentList.Add(entry);
        foreach (var argument in (string[])["driver", ChildFlag, engine, kind, address, .. settings.Dry ? ["--dry"] : Array.Empty<string>()])
            start.ArgumentList.Add(argument);

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start a transport latency child process");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(settings.ScenarioLimit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            // What the child wrote before it was killed (its samples so far and any error) tells a hang from a slow broker.
            var samplesSoFar = (await output.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
            var errorSoFar = (await error.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false)).Trim();
            throw new TimeoutException($"transport latency child '{engine} {kind}' did not finish within {settings.ScenarioLimit} " +
                $"({samplesSoFar} samples written; stderr: {(errorSoFar.Length == 0 ? "empty" : errorSoFar)})");
        }

        if (process.ExitCode != 0)
            throw new InvalidOperationException($"transport latency child '{engine} {kind}' exited with {process.ExitCode}: {await error}");

        return (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => double.Parse(line, CultureInfo.InvariantCulture))
            .ToList();
    }

    /// <summary>
    /// A raw row, the transport API alone, and the Busbar row doing the same work; each run returns the measured time of
    /// <c>events</c>. The transport row splits a gap between the broker client and the bus into its two layers.
    /// </summary>
    private sealed record Comparison(string Raw, string Transport, string Bus, int Events, double Goal,
        Func<int, CancellationToken, Task<TimeSpan>> RunRaw, Func<int, CancellationToken, Task<TimeSpan>> RunTransport, Func<int, CancellationToken, Task<TimeSpan>> RunBus);
}
