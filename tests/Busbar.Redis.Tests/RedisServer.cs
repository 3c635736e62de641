using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Busbar.Redis.Tests;

/// <summary>
/// A real redis-server child process on 127.0.0.1, a free port and a temp directory, with the append-only file on
/// (Debian's default is snapshots only). Stop, kill and restart it (same port, same directory) to test faults.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly bool _fsyncAlways;
    private Process? _process;

    private RedisServer(int port, string directory, bool fsyncAlways)
    {
        Port = port;
        Directory = directory;
        _fsyncAlways = fsyncAlways;
    }

    public int Port { get; }

    public string Directory { get; }

    public string Configuration => $"127.0.0.1:{Port},connectTimeout=5000,syncTimeout=5000,asyncTimeout=5000";

    public static async Task<RedisServer> StartAsync(bool fsyncAlways = false)
    {
        var directory = Path.Combine(Path.GetTempPath(), "busbar-redis-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        for (var attempt = 1; ; attempt++)
        {
            var server = new RedisServer(FreePort(), directory, fsyncAlways);
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

    public static string Executable =>
        new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("redis-server is not installed (apt-get install -y redis-server); .ci/run installs it.");

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

    /// <summary>Starts it again on the same port with the same directory, so it reloads its append-only file.</summary>
    public Task RestartAsync() => StartProcessAsync();

    public async Task<string> CommandAsync(params string[] arguments)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port);
        var stream = client.GetStream();
        var request = new StringBuilder().Append('*').Append(arguments.Length).Append("\r\n");
        foreach (var argument in arguments)
            request.Append('$').Append(Encoding.UTF8.GetByteCount(argument)).Append("\r\n").Append(argument).Append("\r\n");
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()));
        var buffer = new byte[64 * 1024];
        var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        return Encoding.UTF8.GetString(buffer, 0, read);
    }

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
        foreach (var argument in new[]
        {
            "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--protected-mode", "yes",
            "--save", string.Empty, "--appendonly", "yes", "--appendfsync", _fsyncAlways ? "always" : "everysec",
            "--dir", Directory, "--daemonize", "no", "--loglevel", "warning",
        })
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            if (process.HasExited)
            {
                lock (output)
                    throw new InvalidOperationException($"redis-server exited with {process.ExitCode}: {output}");
            }

            try
            {
                if ((await CommandAsync("PING")).StartsWith("+PONG", StringComparison.Ordinal))
                    return;
            }
            catch (Exception ex) when (ex is SocketException or IOException or TimeoutException)
            {
                // Not listening yet, or still loading the append-only file.
            }

            if (limit.IsCancellationRequested)
                throw new TimeoutException("redis-server did not answer PING within 20 s.");
            await Task.Delay(20);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>One server shared by a test class; tests keep apart by key prefix.</summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
