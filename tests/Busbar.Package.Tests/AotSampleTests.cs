namespace Busbar.Package.Tests;

public sealed class AotSampleTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("busbar-aot-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Fact]
    public async Task AotSample_CompiledNatively_PublishesAndHandlesWithoutWarnings()
    {
        var root = DotnetProcess.CopyRepository(
            Directory.CreateDirectory(Path.Combine(_work, "repo")).FullName, "src/Busbar", "samples/Busbar.Samples.Aot");
        var output = Path.Combine(_work, "out");
        // Native AOT links with clang; .ci/run installs it (and zlib1g-dev) on a fresh machine.
        Assert.True(File.Exists("/usr/bin/clang"), "Native AOT needs clang: apt-get install -y clang zlib1g-dev");

        var publish = await DotnetProcess.RunAsync(
            "dotnet", $"publish samples/Busbar.Samples.Aot -c Release -o \"{output}\"", root, TimeSpan.FromMinutes(8));
        Assert.True(publish.ExitCode == 0, publish.Output);
        // Trim and AOT analysis warnings (IL2xxx, IL3xxx) would fail the build as errors; check none was even printed.
        Assert.DoesNotMatch(@"warning IL[23]\d{3}", publish.Output);

        var binary = Path.Combine(output, "Busbar.Samples.Aot");
        Assert.True(File.Exists(binary), publish.Output);
        Assert.False(File.Exists(Path.Combine(output, "Busbar.Samples.Aot.dll")), "expected a native executable, not an IL assembly");

        var run = await DotnetProcess.RunAsync(binary, "", output, TimeSpan.FromMinutes(1));
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("queued: Completed, tax 10.0", run.Output, StringComparison.Ordinal);
        Assert.Contains("inline: Completed, tax 2.0", run.Output, StringComparison.Ordinal);
        Assert.Contains("shipped: Failed, dead letters 1", run.Output, StringComparison.Ordinal);
        Assert.Contains("pattern handler saw 3 events", run.Output, StringComparison.Ordinal);
    }
}
