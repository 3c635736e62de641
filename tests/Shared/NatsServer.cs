using System.Globalization;

namespace Busbar.Testing;

/// <summary>A real <c>nats-server -js</c> child process with its store in the temp directory (see <see cref="ServerProcess"/>).</summary>
public sealed class NatsServer : ServerProcess
{
    private readonly string[] _arguments;

    private NatsServer(int port, string directory, string[] arguments)
        : base(port, directory) => _arguments = arguments;

    /// <summary>The server's URL for NATS.Net.</summary>
    public string Url => $"nats://127.0.0.1:{Port}";

    protected override string Name => "nats-server";

    protected override string Executable => Find("nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server");

    /// <summary>Starts a server; <paramref name="arguments"/> are added to its command line (e.g. <c>--user u --pass p</c>).</summary>
    public static Task<NatsServer> StartAsync(params string[] arguments) =>
        StartAsync("busbar-nats-", (port, directory) => new NatsServer(port, directory, arguments));

    protected override IEnumerable<string> Arguments() =>
        new[] { "-js", "-a", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-sd", Directory }.Concat(_arguments);

    protected override async Task<bool> IsReadyAsync() =>
        Output.Contains("Server is ready", StringComparison.Ordinal) && await AcceptsAsync();
}
