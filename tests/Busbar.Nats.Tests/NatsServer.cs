using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Busbar.Nats.Tests;

/// <summary>
/// A real <c>nats-server -js</c> child process on 127.0.0.1, a free port and a temp store directory. Kill and restart it
/// (same port, same directory) to test faults.
/// </summary>
public sealed class NatsServer : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private readonly string[] _arguments;
    private Process? _process;

    private NatsServer(int port, string directory, string[] arguments)
    {
        Port = port;
        Directory = directory;
        _arguments = arguments;
    }

    public int Port { get; }

    public string Directory { get; }

    public string Url => $"nats://127.0.0.1:{Port}";

    public static string Executable =>
        new[] { "/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("nats-server is not installed (apt-get install -y nats-server); .ci/run installs it.");

    /// <summary>Starts a server; <paramref name="arguments"/> are added to its command line (e.g. <c>--user u --pass p</c>).</summary>
    public static async Task<NatsServer> StartAsync(params string[] arguments)
    {
        var directory = Path.Combine(Path.GetTempPath(), "busbar-nats-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        for (var attempt = 1; ; attempt++)
        {
            var server = new NatsServer(FreePort(), directory, arguments);
            try
            {
                await server.StartProcessAsync();
                return server;
            }
            catch (InvalidOperationException) when (attempt < 5)
            {
                // The port was taken between choosing and binding it: choose again.
                await server.KillAsync();
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
                throw new InvalidOperationException($"nats-server (pid {pid}) did not stop within 10 s of SIGSTOP.");
            Thread.Sleep(1);
        }
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

    /// <summary>Lets a paused process go on (SIGCONT).</summary>
    public void Resume() => Signal(18);

    private void Signal(int signal)
    {
        var process = _process ?? throw new InvalidOperationException("nats-server is not running.");
        if (Kill(process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <summary>Starts it again on the same port with the same store directory, so it recovers its streams.</summary>
    public Task RestartAsync() => StartProcessAsync();

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
    }

    private async Task StartProcessAsync()
    {
        var info = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-js", "-a", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-sd", Directory }.Concat(_arguments))
            info.ArgumentList.Add(argument);

        lock (_output)
            _output.Clear();
        var process = Process.Start(info) ?? throw new InvalidOperationException("nats-server did not start.");
        process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            if (process.HasExited)
            {
                lock (_output)
                    throw new InvalidOperationException($"nats-server exited with {process.ExitCode}: {_output}");
            }

            bool ready;
            lock (_output)
                ready = _output.ToString().Contains("Server is ready", StringComparison.Ordinal);
            if (ready && await AcceptsAsync())
                return;
            if (limit.IsCancellationRequested)
            {
                lock (_output)
                    throw new TimeoutException($"nats-server was not ready within 20 s: {_output}");
            }

            await Task.Delay(20);
        }
    }

    private async Task<bool> AcceptsAsync()
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>One server shared by a test class; tests keep apart by stream name and subject prefix.</summary>
public sealed class NatsServerFixture : IAsyncLifetime
{
    public NatsServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await NatsServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
