using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Busbar.Testing;

/// <summary>
/// A real server as a child process on 127.0.0.1, a free port and a temp directory of its own (removed on dispose), for
/// tests and benchmarks. Kill, pause and restart it (same port, same directory) to test faults. A subclass names the
/// executable, its command line and when it is ready; the source is shared by the test projects and the benchmarks.
/// </summary>
public abstract class ServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(20);
    private readonly StringBuilder _output = new();
    private Process? _process;

    protected ServerProcess(int port, string directory)
    {
        Port = port;
        Directory = directory;
    }

    public int Port { get; }

    public string Directory { get; }

    /// <summary>What the server has written so far (standard output and error) since it last started.</summary>
    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>The server's name in messages, e.g. <c>redis-server</c>.</summary>
    protected abstract string Name { get; }

    /// <summary>The executable's path.</summary>
    protected abstract string Executable { get; }

    /// <summary>The command line: the port, the bind address and the directory at least.</summary>
    protected abstract IEnumerable<string> Arguments();

    /// <summary>Whether the started process answers; asked every 20 ms until it does (its <see cref="Output"/> may tell).</summary>
    protected abstract Task<bool> IsReadyAsync();

    /// <summary>The first of <paramref name="candidates"/> that exists, else an error that says how to install it.</summary>
    protected static string Find(string package, params string[] candidates) =>
        candidates.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"{package} is not installed (apt-get install -y {package}); .ci/run installs it.");

    /// <summary>
    /// Creates a server with <paramref name="create"/> (a free port, a new temp directory named after
    /// <paramref name="prefix"/>) and starts it; a port taken between choosing and binding it is chosen again.
    /// </summary>
    protected static async Task<TServer> StartAsync<TServer>(string prefix, Func<int, string, TServer> create)
        where TServer : ServerProcess
    {
        var directory = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        for (var attempt = 1; ; attempt++)
        {
            var server = create(FreePort(), directory);
            try
            {
                await server.StartProcessAsync();
                return server;
            }
            catch (InvalidOperationException) when (attempt < 5)
            {
                // It exited: most likely the port was taken between choosing and binding it. Choose again.
                await server.KillAsync();
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>Kills the process at once (SIGKILL): what a crash looks like.</summary>
    public async Task KillAsync()
    {
        var process = _process;
        _process = null;
        if (process is null)
            return;
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        process.Dispose();
    }

    /// <summary>Starts it again on the same port with the same directory, so it recovers what it had stored.</summary>
    public Task RestartAsync() => StartProcessAsync();

    /// <summary>
    /// Freezes the process (SIGSTOP): connections stay open but nothing is answered until <see cref="Resume"/>. Returns once
    /// every thread of the server is stopped (a signal takes effect on each thread when it is next scheduled, so right after
    /// <c>kill</c> a running thread can still answer a request sent meanwhile).
    /// </summary>
    public void Pause()
    {
        Signal(19);
        var pid = _process!.Id;
        var limit = Stopwatch.StartNew();
        while (!AllThreadsStopped(pid))
        {
            if (limit.Elapsed > TimeSpan.FromSeconds(10))
                throw new InvalidOperationException($"{Name} (pid {pid}) did not stop within 10 s of SIGSTOP.");
            Thread.Sleep(1);
        }
    }

    /// <summary>Lets a paused process go on (SIGCONT).</summary>
    public void Resume() => Signal(18);

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Whether something accepts a TCP connection on the port.</summary>
    protected async Task<bool> AcceptsAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private async Task StartProcessAsync()
    {
        var info = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in Arguments())
            info.ArgumentList.Add(argument);

        lock (_output)
            _output.Clear();
        var process = Process.Start(info) ?? throw new InvalidOperationException($"{Name} did not start.");
        process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var limit = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{Name} exited with {process.ExitCode}: {Output}");
            if (await IsReadyAsync())
                return;
            if (limit.Elapsed > StartLimit)
                throw new TimeoutException($"{Name} was not ready within {StartLimit.TotalSeconds:0} s: {Output}");
            await Task.Delay(20);
        }
    }

    private void Signal(int signal)
    {
        var process = _process ?? throw new InvalidOperationException($"{Name} is not running.");
        if (Kill(process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Every task of <paramref name="pid"/> is in state T (stopped) or t (traced), from /proc/PID/task/*/stat.</summary>
    private static bool AllThreadsStopped(int pid)
    {
        foreach (var task in System.IO.Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                continue; // the thread ended meanwhile
            }

            // "tid (comm) S …": the state follows the last ')' (comm may hold spaces and parentheses).
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            if (state is not ('T' or 't'))
                return false;
        }

        return true;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
