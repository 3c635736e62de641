using BenchmarkDotNet.Running;
using Busbar.Benchmarks.Driver;
using Busbar.Benchmarks.Infrastructure;

// Usage (see bench/results/README.md; bench/run.sh runs everything):
//   Busbar.Benchmarks [BenchmarkDotNet args]        BenchmarkDotNet with the short job, e.g. --filter '*'
//   Busbar.Benchmarks driver [--dry] [--out FILE]   throughput, latency, overload and fan-out tables
//     driver --latency-only / --durability-only      one scenario: round trips (fresh processes and warm), durable publish
//     driver --fanout-only                           (d) fan-out to 8 handlers, Parallel and Serial tier
//     driver --transports-only                       (h) Redis and NATS through the bus next to the raw clients
//   Busbar.Benchmarks --dry                         every benchmark once in-process plus the driver with
//                                                   tiny counts: proves the suite builds and runs (CI)
if (args is ["driver", .. var driverArgs])
{
    return await DriverProgram.RunAsync(driverArgs);
}

if (args is ["--dry", ..])
{
    SuiteMode.Dry = true;
    var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly)
        .Run(["--filter", "*"], BenchmarkConfigs.Dry()).ToArray();
    var failed = summaries.Where(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)).ToList();
    foreach (var summary in failed)
    {
        Console.Error.WriteLine($"dry run failed: {summary.Title}");
    }

    var driverExit = await DriverProgram.RunAsync(["--dry"]);
    var benchmarks = summaries.Sum(s => s.Reports.Length);
    Console.WriteLine($"dry run: {benchmarks} benchmarks in {summaries.Length} classes, driver exit {driverExit}");
    return failed.Count == 0 && benchmarks > 0 && driverExit == 0 ? 0 : 1;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchmarkConfigs.Short());
return 0;
