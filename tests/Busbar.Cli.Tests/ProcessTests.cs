using System.Diagnostics;
using System.Text;

namespace Busbar.Cli.Tests;

/// <summary>The built <c>busbar</c> as a real process: redirected output, exit codes, and SIGINT.</summary>
public sealed class ProcessTests
{
    [Fact]
    public async Task Demo_RedirectedOutput_PlainSummaryThatAddsUp()
    {
        using var process = CliProcess.Start("demo", "--duration", "3");

        var exitCode = await process.WaitForExitAsync();

        Assert.Equal(0, exitCode);
        Assert.DoesNotContain('\u001b', process.Output);
        Assert.Contains("busbar demo: order pipeline", process.Output);
        CliRun.ParseInvariant(process.Output).AssertAddsUp();
        Assert.Equal("", process.Error);
    }

    [Fact]
    public async Task Demo_Sigint_GracefulShutdownAndSummary()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            return;
        using var process = CliProcess.Start("demo", "--duration", "60", "--no-live");
        await Eventually.TrueAsync(() => process.Output.Contains("publishing published=", StringComparison.Ordinal), "the demo printed progress");

        using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        var exitCode = await process.WaitForExitAsync();

        Assert.Equal(0, exitCode);
        Assert.Contains("graceful shutdown (interrupted by Ctrl+C)", process.Output);
        CliRun.ParseInvariant(process.Output).AssertAddsUp();
    }

    [Theory]
    [InlineData(2, "frobnicate")]
    [InlineData(2, "demo", "--capacity", "zero")]
    [InlineData(1, "wal", "inspect", "/nonexistent/busbar-wal")]
    public async Task Run_UserErrors_ExitCodeAndOneLineReason(int expected, params string[] args)
    {
        using var process = CliProcess.Start(args);

        var exitCode = await process.WaitForExitAsync();

        Assert.Equal(expected, exitCode);
        Assert.StartsWith("busbar: ", process.Error);
        Assert.DoesNotContain("   at ", process.Error);
        Assert.DoesNotContain("Exception", process.Error);
    }

    private sealed class CliProcess : IDisposable
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

        public static CliProcess Start(params string[] args)
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

        /// <summary>The CLI's build output sits next to the tests' through the project reference.</summary>
        private static string CliAssemblyPath()
        {
            var path = Path.Combine(AppContext.BaseDirectory, "Busbar.Cli.dll");
            Assert.True(File.Exists(Path.ChangeExtension(path, ".runtimeconfig.json")), "Busbar.Cli.runtimeconfig.json missing next to " + path);
            return path;
        }
    }
}
