using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;

namespace Busbar.Tests.Durability;

/// <summary>
/// One run of tests/Busbar.CrashHost as a real process, with its stdout parsed line by line as it arrives
/// (the line protocol is described in the host's Program.cs).
/// </summary>
internal sealed class CrashHostProcess : IDisposable
{
    private readonly Process _process;
    private readonly Lock _lock = new();
    private readonly StringBuilder _error = new();
    private readonly List<string> _tail = [];
    private readonly List<long> _acknowledged = [];
    private readonly Dictionary<long, List<int>> _handled = [];
    private readonly HashSet<long> _running = [];
    private readonly List<string> _problems = [];
    private readonly List<string> _unexpected = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _outputClosed;
    private int _handledCount;

    private CrashHostProcess(Process process) => _process = process;

    /// <summary>The <c>R</c> line: how many recovered events the run re-handled before going on.</summary>
    public int? Recovered { get; private set; }

    /// <summary>The <c>D</c> line: StopReport.PendingInLog of a clean stop.</summary>
    public long? PendingInLog { get; private set; }

    public int AcknowledgedCount => _acknowledged.Count;

    /// <summary>Acknowledged in this run and not (yet) handled in it.</summary>
    public int Backlog => _acknowledged.Count - _acknowledged.Count(_handled.ContainsKey);

    /// <summary>Handlers that printed <c>B</c> and not yet <c>H</c> (slow mode only).</summary>
    public int Running => _running.Count;

    public static string HostPath { get; } = FindHost();

    /// <summary>The <c>S</c> line: the bus is built, so its log is open and locked.</summary>
    public bool Opened { get; private set; }

    public static CrashHostProcess Start(string directory, long start, bool slow, bool recoverOnly, bool hold = false, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(HostPath);
        info.ArgumentList.Add(directory);
        info.ArgumentList.Add("--start");
        info.ArgumentList.Add(start.ToString(CultureInfo.InvariantCulture));
        if (slow)
            info.ArgumentList.Add("--slow");
        if (recoverOnly)
            info.ArgumentList.Add("--recover-only");
        if (hold)
            info.ArgumentList.Add("--hold");
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            info.Environment[name] = value;
        var process = new Process { StartInfo = info };
        var host = new CrashHostProcess(process);
        process.OutputDataReceived += (_, e) => host.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            lock (host._lock)
                host._error.AppendLine(e.Data);
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return host;
    }

    /// <summary>Waits until the condition holds on the output read so far; fails if the host exits first or time runs out.</summary>
    public async Task WaitUntilAsync(Func<CrashHostProcess, bool> condition, string what, TimeSpan? timeout = null)
    {
        using var expired = new CancellationTokenSource(timeout ?? TestTimeout.Default);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (condition(this))
                    return;
                if (_outputClosed)
                    Assert.Fail($"The crash host exited before {what}.\n{Describe()}");
                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(expired.Token);
            }
            catch (OperationCanceledException)
            {
                lock (_lock)
                    Assert.Fail($"Timed out waiting until {what}.\n{Describe()}");
            }
        }
    }

    /// <summary>Closes the host's stdin: a <c>--hold</c> host then stops cleanly.</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>SIGKILL, then waits for the process to end and its stdout to be read to the end.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        using var expired = new CancellationTokenSource(TestTimeout.Default);
        await _process.WaitForExitAsync(expired.Token);
    }

    /// <summary>Waits for a clean exit (and the end of stdout) and returns the exit code.</summary>
    public async Task<int> WaitForExitAsync()
    {
        using var expired = new CancellationTokenSource(TestTimeout.Default);
        try
        {
            await _process.WaitForExitAsync(expired.Token);
        }
        catch (OperationCanceledException)
        {
            lock (_lock)
                Assert.Fail($"The crash host did not exit in time.\n{Describe()}");
        }

        return _process.ExitCode;
    }

    /// <summary>What this run printed, once it has ended: every call after <see cref="KillAsync"/> or <see cref="WaitForExitAsync"/> sees the same.</summary>
    public CrashRun Snapshot()
    {
        lock (_lock)
        {
            return new CrashRun(
                [.. _acknowledged],
                _handled.ToDictionary(p => p.Key, p => (IReadOnlyList<int>)[.. p.Value]),
                _running.ToHashSet(),
                Recovered,
                [.. _problems],
                [.. _unexpected],
                _error.ToString());
        }
    }

    private void OnLine(string? line)
    {
        lock (_lock)
        {
            if (line is null)
                _outputClosed = true;
            else
                Parse(line);
            var changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            changed.TrySetResult();
        }
    }

    private void Parse(string line)
    {
        _tail.Add(line);
        if (_tail.Count > 20)
            _tail.RemoveAt(0);
        var parts = line.Split(' ', 3);
        switch (parts[0])
        {
            case "A":
                _acknowledged.Add(long.Parse(parts[1], CultureInfo.InvariantCulture));
                break;
            case "B":
                _running.Add(long.Parse(parts[1], CultureInfo.InvariantCulture));
                break;
            case "H":
                var seq = long.Parse(parts[1], CultureInfo.InvariantCulture);
                if (!_handled.TryGetValue(seq, out var attempts))
                    _handled[seq] = attempts = [];
                attempts.Add(int.Parse(parts[2], CultureInfo.InvariantCulture));
                _running.Remove(seq);
                _handledCount++;
                break;
            case "R":
                Recovered = int.Parse(parts[1], CultureInfo.InvariantCulture);
                break;
            case "D":
                PendingInLog = long.Parse(parts[1], CultureInfo.InvariantCulture);
                break;
            case "P":
                _problems.Add(line[2..]);
                break;
            case "S":
                Opened = true;
                break;
            default:
                _unexpected.Add(line);
                break;
        }
    }

    private string Describe() =>
        $"acknowledged {_acknowledged.Count}, handled {_handledCount}, recovered {Recovered?.ToString(CultureInfo.InvariantCulture) ?? "-"}; last lines:\n  {string.Join("\n  ", _tail)}\nstderr:\n{_error}";

    private static string FindHost()
    {
        var path = typeof(CrashHostProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "CrashHostPath").Value!;
        Assert.True(File.Exists(path), $"The crash host is not built at {path} (it builds with the test project).");
        return path;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Never started or already gone.
        }

        _process.Dispose();
    }
}

/// <summary>The parsed output of one ended crash host run.</summary>
internal sealed record CrashRun(
    IReadOnlyList<long> Acknowledged,
    IReadOnlyDictionary<long, IReadOnlyList<int>> Handled,
    IReadOnlySet<long> RunningAtEnd,
    int? Recovered,
    IReadOnlyList<string> Problems,
    IReadOnlyList<string> Unexpected,
    string Error);
