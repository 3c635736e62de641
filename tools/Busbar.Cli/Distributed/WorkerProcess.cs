using System.Diagnostics;
using System.Globalization;

namespace Busbar.Cli.Distributed;

/// <summary>
/// One worker: the same <c>busbar</c> executable running the hidden <c>demo-worker</c> command as a child process. Its
/// standard output is read line by line into the ledger; closing its standard input asks it to stop; <see cref="Kill"/>
/// sends SIGKILL (no goodbye: what it holds unacknowledged stays with the broker for the others).
/// </summary>
internal sealed class WorkerProcess : IDisposable
{
    private const int StderrLines = 5;

    private readonly Process _process;
    private readonly Queue<string> _stderr = new();
    private readonly Task _reading;
    private int _killed;

    private WorkerProcess(int number, Process process, Action<int, WorkerLine> onLine)
    {
        Number = number;
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            lock (_stderr)
            {
                _stderr.Enqueue(e.Data);
                if (_stderr.Count > StderrLines)
                    _stderr.Dequeue();
            }
        };
        _process.Start();
        Pid = _process.Id;
        _process.BeginErrorReadLine();
        _reading = ReadAsync(onLine);
    }

    /// <summary>1-based, as the view shows it.</summary>
    public int Number { get; }

    public int Pid { get; }

    public bool Killed => Volatile.Read(ref _killed) == 1;

    public bool HasExited => _process.HasExited;

    /// <summary>The exit code once it exited (137 after SIGKILL, as shells report it).</summary>
    public int? ExitCode => _process.HasExited ? (Killed ? 137 : _process.ExitCode) : null;

    /// <summary>The last lines it wrote on standard error, for an error message.</summary>
    public string ErrorTail
    {
        get
        {
            lock (_stderr)
                return string.Join(" | ", _stderr);
        }
    }

    /// <summary>Starts worker <paramref name="number"/> of the run; <paramref name="onLine"/> gets every protocol line it writes.</summary>
    public static WorkerProcess Start(int number, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment, Action<int, WorkerLine> onLine)
    {
        var (fileName, prefix) = SelfCommand();
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in prefix.Concat(arguments))
            info.ArgumentList.Add(argument);
        foreach (var (name, value) in environment)
            info.Environment[name] = value;

        return new WorkerProcess(number, new Process { StartInfo = info }, onLine);
    }

    /// <summary>
    /// How to run this same tool again: the <c>busbar</c> app host (or <c>Busbar.Cli</c>) directly when that is what runs,
    /// else <c>dotnet Busbar.Cli.dll</c> (under <c>dotnet Busbar.Cli.dll</c> or a test host).
    /// </summary>
    public static (string FileName, string[] Prefix) SelfCommand()
    {
        var path = Environment.ProcessPath;
        var name = Path.GetFileNameWithoutExtension(path);
        if (path is not null && name is "busbar" or "Busbar.Cli")
            return (path, []);
        var assembly = typeof(WorkerProcess).Assembly.Location;
        if (string.IsNullOrEmpty(assembly))
            assembly = Path.Combine(AppContext.BaseDirectory, "Busbar.Cli.dll");
        var dotnet = path is not null && name == "dotnet" ? path : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        return (dotnet, [assembly]);
    }

    /// <summary>SIGKILL, now: the worker gets no chance to settle or give back what it holds.</summary>
    public void Kill()
    {
        Volatile.Write(ref _killed, 1);
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // It had already exited.
        }
    }

    /// <summary>Asks the worker to stop (closes its input), waits up to <paramref name="grace"/>, then kills it; returns once its output is read to the end.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // It is gone already; its pipe is broken.
        }

        using (var timeout = new CancellationTokenSource(grace))
        {
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        await _reading;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }

    private async Task ReadAsync(Action<int, WorkerLine> onLine)
    {
        var output = _process.StandardOutput;
        while (await output.ReadLineAsync() is { } text)
        {
            if (WorkerLine.Parse(text) is { } line)
                onLine(Number, line);
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"worker {Number} (pid {Pid})");
}
