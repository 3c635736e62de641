using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Busbar.Testing;

/// <summary>
/// A real redis-server child process (see <see cref="ServerProcess"/>). With persistence on (the tests' default) the
/// append-only file is on — Debian's default is snapshots only — so a restart after a kill reloads what was acknowledged.
/// </summary>
public sealed class RedisServer : ServerProcess
{
    private readonly bool _persistent;
    private readonly bool _fsyncAlways;

    private RedisServer(int port, string directory, bool persistent, bool fsyncAlways)
        : base(port, directory)
    {
        _persistent = persistent;
        _fsyncAlways = fsyncAlways;
    }

    /// <summary>The StackExchange.Redis configuration string for this server.</summary>
    public string Configuration => $"127.0.0.1:{Port},connectTimeout=5000,syncTimeout=5000,asyncTimeout=5000";

    protected override string Name => "redis-server";

    protected override string Executable => Find("redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server");

    /// <summary>
    /// Starts a server: with <paramref name="persistent"/> an append-only file synced every second, or on every write with
    /// <paramref name="fsyncAlways"/>; without it nothing is stored (benchmarks compare client and transport on the same server).
    /// </summary>
    public static Task<RedisServer> StartAsync(bool persistent = true, bool fsyncAlways = false) =>
        StartAsync("busbar-redis-", (port, directory) => new RedisServer(port, directory, persistent, fsyncAlways));

    /// <summary>Sends one command over a connection of its own (RESP) and returns the raw reply.</summary>
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

    protected override IEnumerable<string> Arguments() =>
    [
        "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--protected-mode", "yes",
        "--save", string.Empty, "--appendonly", _persistent ? "yes" : "no", "--appendfsync", _fsyncAlways ? "always" : "everysec",
        "--dir", Directory, "--daemonize", "no", "--loglevel", "warning",
    ];

    protected override async Task<bool> IsReadyAsync()
    {
        try
        {
            return (await CommandAsync("PING")).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or TimeoutException)
        {
            return false; // not listening yet, or still loading the append-only file
        }
    }
}
