using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Busbar.Benchmarks.Infrastructure;

/// <summary>The two ways the suite runs: a short real measurement, and a dry pass for CI.</summary>
public static class BenchmarkConfigs
{
    /// <summary>
    /// One process, 3 warm-up and 5 measured iterations: the whole suite runs in ~5 minutes on two
    /// cores. Ratios within one run are what the results quote, so a short job is enough; the
    /// absolute numbers on this noisy VM vary run to run more than extra iterations would fix.
    /// </summary>
    /// <remarks>
    /// With <c>BUSBAR_BENCH_INPROCESS=1</c> the job runs in this process instead of a generated project:
    /// no build (which can exceed BenchmarkDotNet's two-minute build timeout on a loaded machine), the same
    /// allocation figures, timings a little less isolated.
    /// </remarks>
    public static IConfig Short() =>
        ManualConfig.CreateEmpty()
            .AddJob(InProcessIfAsked(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(5).WithId("Short")))
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddLogger(ConsoleLogger.Default)
            .AddExporter(MarkdownExporter.GitHub);

    private static Job InProcessIfAsked(Job job) =>
        Environment.GetEnvironmentVariable("BUSBAR_BENCH_INPROCESS") == "1" ? job.WithToolchain(InProcessEmitToolchain.Instance) : job;

    /// <summary>
    /// Every benchmark once, in this process (no generated project to build), so CI proves they
    /// build and run in seconds. The numbers mean nothing.
    /// </summary>
    public static IConfig Dry() =>
        ManualConfig.CreateEmpty()
            .AddJob(Job.Dry.WithToolchain(InProcessEmitToolchain.Instance).WithId("Dry"))
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddLogger(ConsoleLogger.Default)
            .WithOptions(ConfigOptions.DisableLogFile);
}
