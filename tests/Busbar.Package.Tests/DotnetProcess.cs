using System.Diagnostics;
using System.Text;

namespace Busbar.Package.Tests;

/// <summary>Runs a command as a child process with a time limit and returns its exit code and output.</summary>
internal static class DotnetProcess
{
    public static async Task<(int ExitCode, string Output)> RunAsync(string fileName, string arguments, string workingDirectory, TimeSpan limit)
    {
        var start = new ProcessStartInfo(fileName, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        // A child `dotnet build` must not attach to this test run's MSBuild nodes or inherit its test-host variables.
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment.Remove("MSBuildSDKsPath");

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        var output = new StringBuilder();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {arguments} did not finish within {limit}:\n{await stdout}\n{await stderr}");
        }
        output.Append(await stdout).Append(await stderr);
        return (process.ExitCode, output.ToString());
    }

    /// <summary>The repository root: the folder above the test binaries that holds Busbar.slnx.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Busbar.slnx")))
                return dir.FullName;
        }
        throw new InvalidOperationException("Busbar.slnx not found above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// Copies the build files at the repository root and the given folders (without bin/ and obj/) into
    /// <paramref name="destination"/>, so a test builds its own copy and never races the solution's build outputs
    /// that other test projects are running from.
    /// </summary>
    public static string CopyRepository(string destination, params string[] folders)
    {
        var root = RepositoryRoot();
        foreach (var file in new[] { "Busbar.slnx", "Directory.Build.props", "Directory.Packages.props", "global.json", "README.md", "LICENSE" })
            File.Copy(Path.Combine(root, file), Path.Combine(destination, file));
        foreach (var file in Directory.GetFiles(Path.Combine(root, "src"), "*", SearchOption.TopDirectoryOnly))
            CopyFile(root, destination, Path.GetRelativePath(root, file));
        foreach (var folder in folders)
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(root, folder), "*", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(root, file);
                var parts = relative.Split(Path.DirectorySeparatorChar);
                if (parts.Contains("bin") || parts.Contains("obj"))
                    continue;
                CopyFile(root, destination, relative);
            }
        }
        return destination;
    }

    private static void CopyFile(string root, string destination, string relative)
    {
        var target = Path.Combine(destination, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Copy(Path.Combine(root, relative), target);
    }
}
