using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Busbar.Benchmarks.Transport;

/// <summary>
/// A <c>nats-server -js</c> child process on 127.0.0.1, a free port and a temp store directory for one benchmark class
/// (file storage, as the transport uses by default; the raw client and the transport share the server).
/// </summary>
public sealed class BenchNatsServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private BenchNatsServer(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public string Url => $"nats://127.0.0.1:{Port}";

    public static async Task<BenchNatsServer> StartAsync()
    {
        var executable = new[] { "/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("nats-server is not installed (apt-get install -y nats-server).");
        var directory = Path.Combine(Path.GetTempPath(), "busbar-bench-nats-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var info = new ProcessStartInfo(executable) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-js", "-a", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-sd", directory })
            info.ArgumentList.Add(argument);
        var process = Process.Start(info) ?? throw new InvalidOperationException("nats-server did not start.");
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        DataReceivedEventHandler watch = (_, e) =>
        {
            if (e.Data?.Contains("Server is ready", StringComparison.Ordinal) == true)
                ready.TrySetResult();
        };
        process.OutputDataReceived += watch;
        process.ErrorDataReceived += watch;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new BenchNatsServer(process, directory, port);
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (TimeoutException)
        {
            await server.DisposeAsync();
            throw new TimeoutException("nats-server was not ready within 20 s.");
        }

        return server;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
