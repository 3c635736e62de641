using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;

namespace Busbar.Benchmarks.Driver;

/// <summary>
/// (g) Round-trip latency in fresh processes: each sample set comes from a new process that ran only a short warm-up,
/// so tiered JIT, thread-pool growth and first-use costs show, as they do for a service that just started.
/// Processes alternate between the rows; percentiles are over every sample of a row.
/// </summary>
/// <remarks>
/// The package ships Busbar.dll precompiled (ReadyToRun) for a few runtimes under <c>runtimes/&lt;rid&gt;/lib/</c>
/// (src/ReadyToRun.targets); the build copies this machine's image to the same path beside the driver.
/// The "as packaged" row runs it the way a user's app does: through a deps.json (a copy of the driver's) that lists
/// Busbar as a package, IL as its runtime asset and the image as a <c>runtimeTargets</c> asset for this runtime. The
/// "IL only" row runs the IL a runtime without an image JIT-compiles, which is also what the rest of the driver runs.
/// </remarks>
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

        // The first line names the Busbar.dll this process ran, so the parent can check the row ran the image it names.
        var output = new StringBuilder().Append("# ").AppendLine(typeof(IEventBus).Assembly.Location);
        foreach (var sample in samples)
            output.AppendLine(sample.ToString("0.###", CultureInfo.InvariantCulture));
        Console.Out.Write(output.ToString());
        return 0;
    }

    public static async Task<string> RunAsync(DriverSettings settings)
    {
        var packagedDeps = WritePackagedDepsFile();
        List<(string Row, string Name, string? Deps)> rows = [("channel", "Channel + TaskCompletionSource (raw, SingleReader = true)", null)];
        if (packagedDeps is not null)
            rows.Add(("busbar", $"Busbar PublishAsync → await handle, as packaged ({RuntimeInformation.RuntimeIdentifier}: ReadyToRun)", packagedDeps));
        rows.Add(("busbar", packagedDeps is null
            ? $"Busbar PublishAsync → await handle (IL only: no ReadyToRun image for {RuntimeInformation.RuntimeIdentifier} was built)"
            : "Busbar PublishAsync → await handle, IL only (JIT, as on a runtime without an image)", null));
        var samples = rows.Select(_ => new List<double>()).ToArray();
        try
        {
            for (var p = 0; p < ProcessesPerRow(settings); p++)
            {
                for (var r = 0; r < rows.Count; r++)
                    samples[r].AddRange(await RunChildProcessAsync(settings, rows[r].Row, rows[r].Deps));
            }
        }
        finally
        {
            if (packagedDeps is not null)
                File.Delete(packagedDeps);
        }

        var p50 = samples.Select(s => LatencyScenario.Percentile(s, 0.50)).ToArray();
        var p99 = samples.Select(s => LatencyScenario.Percentile(s, 0.99)).ToArray();
        var table = new MarkdownTable("Row", "Processes × samples", "p50 µs", "p90 µs", "p99 µs", "p50 ratio", "p99 ratio");
        for (var r = 0; r < rows.Count; r++)
        {
            table.Add(
                rows[r].Name,
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
            "Busbar runs twice: as the package delivers it on this runtime (the ReadyToRun image under runtimes/<rid>/lib/, " +
            "loaded through the app's deps.json) and as IL only (what a runtime without an image JIT-compiles). " +
            "Goal for Busbar (issue 16): p50 ≤ 1.5×, p99 ≤ 2× the channel.");
        text.AppendLine();
        text.Append(table);
        text.AppendLine();
        return text.ToString();
    }

    /// <summary>
    /// A copy of the driver's deps.json in which Busbar is listed as a package reference lists it: the IL as its runtime
    /// asset and the image for this runtime as a <c>runtimeTargets</c> asset, which the host prefers on a matching
    /// runtime. <see langword="null"/> when the build made no image for this runtime.
    /// </summary>
    private static string? WritePackagedDepsFile()
    {
        var baseDirectory = AppContext.BaseDirectory;
        var image = $"runtimes/{RuntimeInformation.RuntimeIdentifier}/lib/net{Environment.Version.Major}.{Environment.Version.Minor}/Busbar.dll";
        if (!File.Exists(Path.Combine(baseDirectory, image)))
            return null;
        var depsPath = Path.Combine(baseDirectory, Path.GetFileNameWithoutExtension(typeof(FreshProcessLatencyScenario).Assembly.Location) + ".deps.json");
        var deps = JsonNode.Parse(File.ReadAllText(depsPath))!;
        var replaced = 0;
        foreach (var (_, target) in deps["targets"]!.AsObject())
        {
            foreach (var (library, entry) in target!.AsObject())
            {
                if (!library.StartsWith("Busbar/", StringComparison.Ordinal) || entry?["runtime"]?["Busbar.dll"] is not { } asset)
                    continue;
                var runtimeTarget = asset.DeepClone();
                runtimeTarget["rid"] = RuntimeInformation.RuntimeIdentifier;
                runtimeTarget["assetType"] = "runtime";
                entry["runtimeTargets"] = new JsonObject { [image] = runtimeTarget };
                deps["libraries"]![library]!["type"] = "package";
                replaced++;
            }
        }

        if (replaced == 0)
            throw new InvalidOperationException($"no Busbar runtime asset in {depsPath}");
        // Beside the driver: the host resolves an app's local assets against the folder of its deps.json.
        var path = Path.Combine(baseDirectory, $"busbar-packaged-{Environment.ProcessId}.deps.json");
        File.WriteAllText(path, deps.ToJsonString());
        return path;
    }

    private static async Task<List<double>> RunChildProcessAsync(DriverSettings settings, string row, string? depsFile)
    {
        var entry = typeof(FreshProcessLatencyScenario).Assembly.Location;
        var host = Environment.ProcessPath!;
        var viaApphost = Path.GetFileNameWithoutExtension(host).Equals(Path.GetFileNameWithoutExtension(entry), StringComparison.Ordinal);
        var start = new ProcessStartInfo(depsFile is not null && viaApphost ? "dotnet" : host)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (depsFile is not null)
        {
            foreach (var argument in (string[])["exec", "--depsfile", depsFile, entry])
                start.ArgumentList.Add(argument);
        }
        else if (!viaApphost)
        {
            start.ArgumentList.Add(entry);
        }

        foreach (var argument in (string[])["driver", ChildFlag, row, .. settings.Dry ? ["--dry"] : Array.Empty<string>()])
            start.ArgumentList.Add(argument);

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start a latency child process");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(settings.ScenarioLimit);
        await process.WaitForExitAsync(limit.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"latency child '{row}' exited with {process.ExitCode}: {await error}");

        var lines = (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (row == "busbar")
        {
            var ran = lines[0].TrimStart('#', ' ');
            var expected = depsFile is null ? AppContext.BaseDirectory : Path.Combine(AppContext.BaseDirectory, "runtimes");
            if (!ran.StartsWith(expected, StringComparison.Ordinal) || (depsFile is null && ran.Contains("runtimes", StringComparison.Ordinal)))
                throw new InvalidOperationException($"latency child '{row}' ran {ran}, expected {(depsFile is null ? "the IL beside the driver" : "the image under runtimes/")}");
        }

        return lines.Skip(1).Select(line => double.Parse(line, CultureInfo.InvariantCulture)).ToList();
    }
}
