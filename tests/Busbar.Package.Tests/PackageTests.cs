using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Runtime.InteropServices;

namespace Busbar.Package.Tests;

public sealed class PackageTests : IDisposable
{
    private static readonly TimeSpan s_limit = TimeSpan.FromMinutes(5);

    /// <summary>The runtimes the package carries ReadyToRun images for (src/ReadyToRun.targets).</summary>
    private static readonly string[] s_readyToRunRuntimes = ["linux-x64", "linux-arm64", "win-x64", "osx-arm64"];
    private readonly string _work = Directory.CreateTempSubdirectory("busbar-package-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Fact]
    public async Task Pack_FreshConsoleAppFromFolderFeed_LoadsTheImageForItsRuntimeAndHandles()
    {
        var (package, run) = await PackAndRunAppAsync("");
        AssertReadyToRunImages(package, s_readyToRunRuntimes);

        // A portable app resolves the package's runtimes/<rid>/lib/ copy on a runtime it has one for, the IL elsewhere.
        var rid = RuntimeInformation.RuntimeIdentifier;
        if (s_readyToRunRuntimes.Contains(rid))
            Assert.Matches($"loaded .*/runtimes/{rid}/lib/net10.0/Busbar.dll readytorun=True", run);
        else
            AssertRanTheIL(run);
    }

    [Fact]
    public async Task Pack_NoImageForThisRuntime_AppRunsTheIL()
    {
        // An image for another runtime only: this machine must fall back to the IL in lib/ and work as before.
        var other = RuntimeInformation.RuntimeIdentifier == "win-x64" ? "linux-x64" : "win-x64";
        var (package, run) = await PackAndRunAppAsync($"-p:BusbarReadyToRunRuntimeIdentifiers={other}");
        AssertReadyToRunImages(package, [other]);
        AssertRanTheIL(run);
    }

    /// <summary>The app ran lib/'s IL, which the build copies beside it, not an image under runtimes/.</summary>
    private static void AssertRanTheIL(string output)
    {
        Assert.Matches("loaded [^\n]*/Busbar.dll readytorun=False", output);
        Assert.DoesNotMatch("loaded [^\n]*/runtimes/", output);
    }

    /// <summary>
    /// Packs src/Busbar from a copy of the repository into a folder feed, then builds and runs a fresh console app that
    /// references the package; returns the package's path and the app's output (which names the Busbar.dll it loaded).
    /// </summary>
    private async Task<(string Package, string Output)> PackAndRunAppAsync(string packArguments)
    {
        var root = DotnetProcess.CopyRepository(Directory.CreateDirectory(Path.Combine(_work, "repo")).FullName, "src/Busbar");
        var feed = Path.Combine(_work, "feed");
        // A version of its own, so the NuGet cache never hands back a package packed by an earlier run.
        var version = $"0.1.0-roundtrip.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
        var pack = await DotnetProcess.RunAsync("dotnet", $"pack src/Busbar -c Release -o \"{feed}\" -p:Version={version} {packArguments}", root, s_limit);
        Assert.True(pack.ExitCode == 0, pack.Output);
        var package = Path.Combine(feed, $"Busbar.{version}.nupkg");
        Assert.True(File.Exists(package), pack.Output);
        Assert.True(File.Exists(Path.Combine(feed, $"Busbar.{version}.snupkg")), "symbols package missing\n" + pack.Output);

        var output = await RunAppAsync(feed, version, ["Busbar"], """
            using System.Reflection.PortableExecutable;
            using Busbar;

            await using var bus = EventBus.Create();
            bus.Subscribe<Greeting>(g => Console.WriteLine($"handled {g.Text}"));
            EventOutcome outcome = await bus.PublishAndWaitAsync(new Greeting("hello"));
            Console.WriteLine($"outcome {outcome.Status}");
            var location = typeof(EventBus).Assembly.Location;
            using var image = new PEReader(File.OpenRead(location));
            Console.WriteLine($"loaded {location.Replace('\\', '/')} readytorun={image.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory.Size > 0}");

            [EventName("greetings.sent")]
            internal sealed record Greeting(string Text);
            """);
        Assert.Contains("handled hello", output, StringComparison.Ordinal);
        Assert.Contains("outcome Completed", output, StringComparison.Ordinal);
        return (package, output);
    }

    /// <summary>
    /// Builds and runs a fresh console app with <paramref name="program"/> that references <paramref name="packages"/> at
    /// <paramref name="version"/> from the folder feed; asserts it compiled against the packed assemblies and returns its output.
    /// </summary>
    private async Task<string> RunAppAsync(string feed, string version, string[] packages, string program)
    {
        var app = Path.Combine(_work, "app");
        Directory.CreateDirectory(app);
        // The folder feed beside the machine's usual sources (the package's own dependencies come from there).
        await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="busbar-local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        var references = string.Concat(packages.Select(p => $"""<PackageReference Include="{p}" Version="{version}" />"""));
        await File.WriteAllTextAsync(Path.Combine(app, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                {references}
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), program);

        var run = await DotnetProcess.RunAsync("dotnet", "run -c Release", app, s_limit);
        Assert.True(run.ExitCode == 0, run.Output);

        // The app compiled against the packed assemblies, not projects in this repository.
        var assets = await File.ReadAllTextAsync(Path.Combine(app, "obj", "project.assets.json"));
        foreach (var package in packages)
            Assert.Contains($"\"{package}/{version}\"", assets, StringComparison.Ordinal);
        return run.Output;
    }

    /// <summary>
    /// lib/ holds IL only (compilation, and every runtime without an image); each listed runtime has an image compiled
    /// from that same assembly (same MVID, so the one PDB in the symbols package serves both).
    /// </summary>
    private static void AssertReadyToRunImages(string package, string[] runtimes, string assembly = "Busbar.dll")
    {
        using var zip = ZipFile.OpenRead(package);
        var (ilHasNativeCode, ilMvid) = Inspect(zip, $"lib/net10.0/{assembly}");
        Assert.False(ilHasNativeCode, $"lib/net10.0/{assembly} should be IL only");
        foreach (var rid in runtimes)
        {
            var (hasNativeCode, mvid) = Inspect(zip, $"runtimes/{rid}/lib/net10.0/{assembly}");
            Assert.True(hasNativeCode, $"runtimes/{rid}/lib/net10.0/{assembly} has no ReadyToRun code");
            Assert.Equal(ilMvid, mvid);
        }

        Assert.Equal(runtimes.Length, zip.Entries.Count(e => e.FullName.StartsWith("runtimes/", StringComparison.Ordinal) && e.Name.EndsWith(".dll", StringComparison.Ordinal)));
    }

    private static (bool HasNativeCode, Guid Mvid) Inspect(ZipArchive zip, string path)
    {
        var entry = zip.GetEntry(path) ?? throw new Xunit.Sdk.XunitException($"{path} missing from the package");
        using var copy = new MemoryStream();
        using (var stream = entry.Open())
            stream.CopyTo(copy);
        copy.Position = 0;
        using var reader = new PEReader(copy);
        var metadata = reader.GetMetadataReader();
        return (reader.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory.Size > 0, metadata.GetGuid(metadata.GetModuleDefinition().Mvid));
    }

    [Fact]
    public async Task Pack_Transports_CarryImagesThatAFreshAppLoadsBesideTheCore()
    {
        // One runtime keeps the three packs short; the images are made exactly as for the core's four.
        var rid = s_readyToRunRuntimes.Contains(RuntimeInformation.RuntimeIdentifier) ? RuntimeInformation.RuntimeIdentifier : "linux-x64";
        var root = DotnetProcess.CopyRepository(Directory.CreateDirectory(Path.Combine(_work, "repo")).FullName, "src/Busbar", "src/Busbar.Redis", "src/Busbar.Nats");
        var feed = Path.Combine(_work, "feed");
        var version = $"0.1.0-transports.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
        foreach (var project in new[] { "Busbar", "Busbar.Redis", "Busbar.Nats" })
        {
            var pack = await DotnetProcess.RunAsync("dotnet", $"pack src/{project} -c Release -o \"{feed}\" -p:Version={version} -p:BusbarReadyToRunRuntimeIdentifiers={rid}", root, s_limit);
            Assert.True(pack.ExitCode == 0, pack.Output);
            AssertReadyToRunImages(Path.Combine(feed, $"{project}.{version}.nupkg"), [rid], $"{project}.dll");
        }

        var output = await RunAppAsync(feed, version, ["Busbar.Redis", "Busbar.Nats"], """
            using System.Reflection.PortableExecutable;

            foreach (var type in new[] { typeof(Busbar.EventBus), typeof(Busbar.Redis.RedisTransport), typeof(Busbar.Nats.NatsTransport) })
            {
                var location = type.Assembly.Location;
                using var image = new PEReader(File.OpenRead(location));
                Console.WriteLine($"loaded {location.Replace('\\', '/')} readytorun={image.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory.Size > 0}");
            }
            """);
        foreach (var assembly in new[] { "Busbar", "Busbar.Redis", "Busbar.Nats" })
        {
            if (rid == RuntimeInformation.RuntimeIdentifier)
                Assert.Matches($"loaded .*/runtimes/{rid}/lib/net10.0/{assembly}.dll readytorun=True", output);
            else
                Assert.Matches($"loaded [^\n]*/{assembly}.dll readytorun=False", output);
        }
    }

    [Fact]
    public async Task Pack_Cli_IsADotnetToolNamedBusbar()
    {
        var root = DotnetProcess.CopyRepository(Directory.CreateDirectory(Path.Combine(_work, "repo")).FullName, "src/Busbar", "src/Busbar.Redis", "src/Busbar.Nats", "tools/Busbar.Cli");
        var feed = Path.Combine(_work, "feed");
        var pack = await DotnetProcess.RunAsync("dotnet", $"pack tools/Busbar.Cli -c Release -o \"{feed}\"", root, s_limit);
        Assert.True(pack.ExitCode == 0, pack.Output);
        var package = Assert.Single(Directory.GetFiles(feed, "Busbar.Cli.*.nupkg"));
        using var zip = System.IO.Compression.ZipFile.OpenRead(package);
        var settings = zip.Entries.Single(e => e.FullName.EndsWith("DotnetToolSettings.xml", StringComparison.Ordinal));
        using var reader = new StreamReader(settings.Open());
        var xml = await reader.ReadToEndAsync();
        Assert.Contains("<Command Name=\"busbar\"", xml, StringComparison.Ordinal);
        Assert.Contains(zip.Entries, e => e.FullName == "LICENSE");
        Assert.Contains(zip.Entries, e => e.FullName == "README.md");
    }
}
