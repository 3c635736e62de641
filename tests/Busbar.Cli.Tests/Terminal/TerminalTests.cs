using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Busbar.Cli.Tests.Terminal;

/// <summary>
/// <c>busbar demo</c> on a real pseudo-terminal of 80×24, driven by <c>pty_run.py</c> (Python's
/// standard <c>pty</c> module): Ctrl+C is a 0x03 byte typed at the terminal, as a user presses it.
/// </summary>
public sealed partial class TerminalTests
{
    private const string Escape = "\u001b";

    /// <summary>The live view's queue bar at capacity: sixteen full blocks.</summary>
    private const string FullQueueBar = "████████████████";

    [Fact]
    public async Task Demo_SecondCtrlC_RestoresCursorAndLineAndSaysWhatIsLeftInTheLog()
    {
        var python = FindPython();

        // The first Ctrl+C once the queue bar is full: a backlog one handler at a time cannot drain before the
        // drain timeout (2 s), so the second Ctrl+C, on the next frame, lands while the shutdown still drains.
        var run = await RunOnTerminalAsync(
            python,
            [FullQueueBar, "shutting down gracefully"],
            "demo", "--duration", "60", "--rate", "5000", "--capacity", "200", "--concurrency", "1");
        string? logDirectory = null;
        try
        {
            Assert.True(run.ExitCode == "130", $"exit={run.ExitCode}; terminal output:\n{Visible(run.Output)}");
            var forced = ForcedLinePattern().Match(run.Output);
            Assert.True(forced.Success, "no forced-exit line in:\n" + Visible(run.Output));
            logDirectory = forced.Groups["dir"].Value;

            // The cursor is shown again after the live view last hid it, and the exit line starts a fresh line.
            var hidden = run.Output.LastIndexOf(Escape + "[?25l", StringComparison.Ordinal);
            var shown = run.Output.LastIndexOf(Escape + "[?25h", StringComparison.Ordinal);
            Assert.True(hidden >= 0, "the live view never hid the cursor");
            Assert.True(shown > hidden, "the cursor is still hidden at exit");
            Assert.EndsWith("\n", run.Output[..forced.Index]);
            Assert.EndsWith("\n", run.Output);

            // The log is kept for the next bus, with the events the line counted.
            Assert.True(Directory.Exists(logDirectory), "the log the exit line names is gone: " + logDirectory);
            Assert.True(long.Parse(forced.Groups["count"].Value, CultureInfo.InvariantCulture) > 0);
        }
        finally
        {
            if (logDirectory is not null && Directory.Exists(logDirectory))
                Directory.Delete(logDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task Demo_On80x24Terminal_EveryFrameKeepsItsHeaderAndFitsTheWidth()
    {
        var python = FindPython();

        var run = await RunOnTerminalAsync(python, [], "demo", "--duration", "2", "--rate", "100", "--capacity", "32");

        Assert.True(run.ExitCode == "0", $"exit={run.ExitCode}; terminal output:\n{Visible(run.Output)}");
        var visible = Visible(run.Output);
        Assert.Contains("busbar demo · publishing", visible);
        Assert.Contains("busbar demo · stopped", visible);
        Assert.Contains("in flight", visible);
        Assert.DoesNotContain("handlers, by tier", visible);
        Assert.All(visible.Split('\n'), line => Assert.True(line.TrimEnd().Length <= 80, "line wider than the 80-column terminal: " + line));
        Assert.Contains("graceful shutdown (run complete)", visible);
    }

    private static async Task<(string ExitCode, string Output)> RunOnTerminalAsync(string python, string[] ctrlCAfter, params string[] args)
    {
        var output = Path.Combine(Path.GetTempPath(), "busbar-pty-" + Guid.NewGuid().ToString("N") + ".out");
        var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Terminal", "pty_run.py"));
        foreach (var (name, value) in new[] { ("--cols", "80"), ("--rows", "24"), ("--timeout", "40"), ("--output", output) })
        {
            info.ArgumentList.Add(name);
            info.ArgumentList.Add(value);
        }

        foreach (var text in ctrlCAfter)
        {
            info.ArgumentList.Add("--ctrl-c-after");
            info.ArgumentList.Add(text);
        }

        info.ArgumentList.Add("--");
        info.ArgumentList.Add("dotnet");
        info.ArgumentList.Add(CliProcess.CliAssemblyPath());
        foreach (var arg in args)
            info.ArgumentList.Add(arg);

        using var process = Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        try
        {
            var status = ExitPattern().Match(await stdout);
            Assert.True(status.Success, "pty_run.py failed: " + await stderr);
            return (status.Groups[1].Value, Encoding.UTF8.GetString(await File.ReadAllBytesAsync(output)));
        }
        finally
        {
            File.Delete(output);
        }
    }

    /// <summary>The terminal's bytes as a reader sees them: escape sequences removed, CR LF as LF.</summary>
    private static string Visible(string output) => AnsiPattern().Replace(output, "").Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\r", "\n", StringComparison.Ordinal);

    /// <summary>python3 drives the pseudo-terminal (its pty module); .ci/run installs it on a machine that lacks it.</summary>
    private static string FindPython()
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var candidate = Path.Combine(directory, "python3");
            if (File.Exists(candidate))
                return candidate;
        }

        throw new InvalidOperationException("python3 is not on PATH: the pseudo-terminal tests need it (apt-get install -y python3).");
    }

    [GeneratedRegex(@"busbar: forced exit by a second Ctrl\+C: (?<count>\d+) events pending in the write-ahead log (?<dir>\S+) \(kept\)")]
    private static partial Regex ForcedLinePattern();

    [GeneratedRegex(@"exit=(\S+)")]
    private static partial Regex ExitPattern();

    [GeneratedRegex(@"\u001b(\[[0-9;?]*[A-Za-z]|\][^\u0007]*\u0007)")]
    private static partial Regex AnsiPattern();
}
