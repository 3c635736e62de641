using System.Diagnostics;
using System.Text;

namespace Busbar.Cli.Tests;

/// <summary>The built <c>Busbar.Cli.dll</c> as a child process with redirected output, read line by line.</summary>
internal sealed class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _error = new();

    private CliProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    public string Error
    {
        get
        {
            lock (_error)
                return _error.ToString();
        }
    }

    public static CliProcess Start(params string[] args) => Start(null, args);

    public static CliProcess Start(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        // A runner started in the background (nohup, a CI shell without job control) passes
        // SIGINT down as ignored, and an ignored signal cannot be caught: reset it for the child.
        var resetSignal = OperatingSystem.IsLinux() && File.Exists("/usr/bin/env");
        var info = new ProcessStartInfo(resetSignal ? "/usr/bin/env" : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (resetSignal)
        {
            info.ArgumentList.Add("--default-signal=INT");
            info.ArgumentList.Add("dotnet");
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            info.Environment[name] = value;
        info.ArgumentList.Add(CliAssemblyPath());
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        var process = new Process { StartInfo = info };
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, e) => Append(cli._output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(cli._error, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    public async Task<int> WaitForExitAsync()
    {
        using var timeout = new CancellationTokenSource(CliRun.Timeout);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            Assert.Fail("busbar did not exit in time; output so far:\n" + Output);
        }

        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }

    private static void Append(StringBuilder target, string? line)
    {
        if (line is null)
            return;
        lock (target)
            target.Append(line).Append('\n');
    }

    /// <summary>Sends a signal (<c>INT</c>, <c>TERM</c>) with kill(1).</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    /// <summary>The CLI's build output sits next to the tests' through the project reference.</summary>
    public static string CliAssemblyPath()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Busbar.Cli.dll");
        Assert.True(File.Exists(Path.ChangeExtension(path, ".runtimeconfig.json")), "Busbar.Cli.runtimeconfig.json missing next to " + path);
        return path;
    }
}
