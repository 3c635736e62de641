namespace Busbar.Package.Tests;

public sealed class PackageTests : IDisposable
{
    private static readonly TimeSpan s_limit = TimeSpan.FromMinutes(5);
    private readonly string _work = Directory.CreateTempSubdirectory("busbar-package-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Fact]
    public async Task Pack_FreshConsoleAppFromFolderFeed_PublishesAndHandles()
    {
        var root = DotnetProcess.CopyRepository(Directory.CreateDirectory(Path.Combine(_work, "repo")).FullName, "src/Busbar");
        var feed = Path.Combine(_work, "feed");
        // A version of its own, so the NuGet cache never hands back a package packed by an earlier run.
        var version = $"0.1.0-roundtrip.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
        var pack = await DotnetProcess.RunAsync("dotnet", $"pack src/Busbar -c Release -o \"{feed}\" -p:Version={version}", root, s_limit);
        Assert.True(pack.ExitCode == 0, pack.Output);
        Assert.True(File.Exists(Path.Combine(feed, $"Busbar.{version}.nupkg")), pack.Output);
        Assert.True(File.Exists(Path.Combine(feed, $"Busbar.{version}.snupkg")), "symbols package missing\n" + pack.Output);

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
        await File.WriteAllTextAsync(Path.Combine(app, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Busbar" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), """
            using Busbar;

            await using var bus = EventBus.Create();
            bus.Subscribe<Greeting>(g => Console.WriteLine($"handled {g.Text}"));
            EventOutcome outcome = await bus.PublishAndWaitAsync(new Greeting("hello"));
            Console.WriteLine($"outcome {outcome.Status}");

            [EventName("greetings.sent")]
            internal sealed record Greeting(string Text);
            """);

        var run = await DotnetProcess.RunAsync("dotnet", "run -c Release", app, s_limit);
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("handled hello", run.Output, StringComparison.Ordinal);
        Assert.Contains("outcome Completed", run.Output, StringComparison.Ordinal);

        // The app compiled against the packed assembly, not a project in this repository.
        var assets = await File.ReadAllTextAsync(Path.Combine(app, "obj", "project.assets.json"));
        Assert.Contains($"\"Busbar/{version}\"", assets, StringComparison.Ordinal);
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
