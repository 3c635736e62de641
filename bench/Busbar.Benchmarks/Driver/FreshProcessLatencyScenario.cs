using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Busbar.Benchmarks.Driver;

/// <summary>
/// (g) Round-trip latency in fresh processes: each sample set comes from a new process that ran only a short warm-up,
/// so tiered JIT, thread-pool growth and first-use costs show, as they do for a service that just started.
/// Processes alternate between the rows; percentiles are over every sample of a row.
/// </summary>
public static class FreshProcessLatencyScenario
{
    private const string ChildFlag = "--latency-child";

    public static int ProcessesPerRow(DriverSettings settings) => settings.Dry ? 1 : 6;

    public static int Warmup(DriverSettings settings) => settings.Dry ? 20 : 500;

    public static int Samples(DriverSettings settings) => settings.Dry ? 50 : 2_000;

    /// <summary>True when <paramref name="args"/> asks this process to be one measuring child.</summary>
    public static bool IsChild(string[] args) => args.Contains(ChildFlag);

    /// <summary>The child: warm up, measure, print one sample per line (µs, invariant culture).</summary>
    public static async Task<int> RunChildAsync(DriverSettings settings, string[] args)
    {
        var row = args[Array.IndexOf(args, ChildFlag) + 1];
        await using IRoundTrip trip = row == "channel" ? new ChannelRoundTrip(settings.Capacity) : new BusbarRoundTrip(settings.Capacity);
        using var limit = new CancellationTokenSource(settings.ScenarioLimit);
        for (var i = 0; i < Warmup(settings); i++)
            await trip.RoundTripAsync(i, limit.Token);

        var samples = new double[Samples(settings)];
        for (var i = 0; i < samples.Length; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await trip.RoundTripAsync(i, limit.Token);
            samples[i] = LatencyScenario.MicrosecondsSince(started);
        }

        var output = new StringBuilder();
        foreach (var sample in samples)
            output.AppendLine(sample.ToString("0.###", CultureInfo.InvariantCulture));
        Console.Out.Write(output.ToString());
        return 0;
    }

    public static async Task<string> RunAsync(DriverSettings settings)
    {
        string[] rows = ["channel", "busbar"];
        var samples = rows.Select(_ => new List<double>()).ToArray();
        for (var p = 0; p < ProcessesPerRow(settings); p++)
        {
            for (var r = 0; r < rows.Length; r++)
                samples[r].AddRange(await RunChildProcessAsync(settings, rows[r]));
        }

        var p50 = samples.Select(s => LatencyScenario.Percentile(s, 0.50)).ToArray();
        var p99 = samples.Select(s => LatencyScenario.Percentile(s, 0.99)).ToArray();
        var table = new MarkdownTable("Row", "Processes × samples", "p50 µs", "p90 µs", "p99 µs", "p50 ratio", "p99 ratio");
        string[] names = ["Channel + TaskCompletionSource (raw, SingleReader = true)", "Busbar PublishAsync → await handle"];
        for (var r = 0; r < rows.Length; r++)
        {
            table.Add(
                names[r],
                $"{ProcessesPerRow(settings)} × {MarkdownTable.Count(Samples(settings))}",
                MarkdownTable.Number(p50[r], "0.00"),
                MarkdownTable.Number(LatencyScenario.Percentile(samples[r], 0.90), "0.00"),
                MarkdownTable.Number(p99[r], "0.00"),
                MarkdownTable.Ratio(p50[r] / p50[0]),
                MarkdownTable.Ratio(p99[r] / p99[0]));
        }

        var text = new StringBuilder();
        text.AppendLine("## (g) Round-trip latency in fresh processes");
        text.AppendLine();
        text.AppendLine($"Each process starts cold, runs {Warmup(settings)} round trips of warm-up, then measures {MarkdownTable.Count(Samples(settings))} " +
            "sequential publish → await-handled round trips; processes alternate between the rows. The channel is bounded " +
            "(capacity 10,000, FullMode Wait, SingleReader = true, continuations asynchronous), as a user would configure one consumer. " +
            "Goal for Busbar (issue 16): p50 ≤ 1.5×, p99 ≤ 2× the channel.");
        text.AppendLine();
        text.Append(table);
        text.AppendLine();
        return text.ToString();
    }

    private static async Task<List<double>> RunChildProcessAsync(DriverSettings settings, string row)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var entry = typeof(FreshProcessLatencyScenario).Assembly.Location;
        if (!Path.GetFileNameWithoutExtension(Environment.ProcessPath!).Equals(Path.GetFileNameWithoutExtension(entry), StringComparison.Ordinal))
            start.ArgumentList.Add(entry);
        foreach (var argument in (string[])["driver", ChildFlag, row, .. settings.Dry ? ["--dry"] : Array.Empty<string>()])
            start.ArgumentList.Add(argument);

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start a latency child process");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(settings.ScenarioLimit);
        await process.WaitForExitAsync(limit.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"latency child '{row}' exited with {process.ExitCode}: {await error}");

        return (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => double.Parse(line, CultureInfo.InvariantCulture))
            .ToList();
    }
}
