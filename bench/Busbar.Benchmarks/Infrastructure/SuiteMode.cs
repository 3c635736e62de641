namespace Busbar.Benchmarks.Infrastructure;

/// <summary>
/// Set by <c>--dry</c> before the in-process dry job runs: benchmarks shrink their event counts and
/// setup sizes so CI proves every one of them runs, fast. The numbers of a dry run mean nothing.
/// </summary>
public static class SuiteMode
{
    public static bool Dry { get; set; }
}
