using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;

namespace Busbar.Nats.Tests;

public sealed class NatsTransportOptionsTests
{
    private static readonly NatsTransportOptions Valid = new() { Url = "nats://127.0.0.1:4222" };

    public static TheoryData<NatsTransportOptions, string> Invalid => new()
    {
        { Valid with { Url = " " }, "Url" },
        { Valid with { Url = "http://127.0.0.1:4222" }, "Url" },
        { Valid with { StreamName = "a.b" }, "StreamName" },
        { Valid with { SubjectPrefix = "" }, "SubjectPrefix" },
        { Valid with { SubjectPrefix = "a.b" }, "SubjectPrefix" },
        { Valid with { User = "u" }, "User" },
        { Valid with { Password = "p" }, "Password" },
        { Valid with { Token = "t", NKeyFile = "/k" }, "CredentialsFile" },
        { Valid with { TlsCertFile = "/c" }, "TlsCertFile" },
        { Valid with { Lease = TimeSpan.FromMilliseconds(500) }, "Lease" },
        { Valid with { MaxDeliveries = 0 }, "MaxDeliveries" },
        { Valid with { MaxAckPending = 0 }, "MaxAckPending" },
        { Valid with { Retention = TimeSpan.FromSeconds(1) }, "Retention" },
        { Valid with { DuplicateWindow = TimeSpan.FromDays(8) }, "DuplicateWindow" },
        { Valid with { Replicas = 2 }, "Replicas" },
        { Valid with { PublishWindow = 0 }, "PublishWindow" },
        { Valid with { PublishFullMode = BusFullMode.DropOldest }, "PublishFullMode" },
        { Valid with { PublishTimeout = TimeSpan.Zero }, "PublishTimeout" },
        { Valid with { RequestTimeout = TimeSpan.Zero }, "RequestTimeout" },
        { Valid with { PullExpiry = TimeSpan.FromHours(1) }, "PullExpiry" },
        { Valid with { StatusInterval = TimeSpan.Zero }, "StatusInterval" },
        { Valid with { ConnectTimeout = TimeSpan.Zero }, "ConnectTimeout" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public async Task ConnectAsync_InvalidOption_ThrowsNamingIt(NatsTransportOptions options, string option)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await NatsTransport.ConnectAsync(options));

        Assert.Contains($"NatsTransportOptions.{option}", error.Message, StringComparison.Ordinal);
        Assert.Equal(option, error.ParamName);
    }

    [Fact]
    public void ToString_NeverShowsSecrets()
    {
        var options = Valid with { Url = "nats://app:hunter2@127.0.0.1:4222", User = "app", Password = "s3cret" };
        var withToken = Valid with { Token = "t0ken" };

        var text = options.ToString() + withToken.ToString();

        Assert.DoesNotContain("hunter2", text, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", text, StringComparison.Ordinal);
        Assert.DoesNotContain("t0ken", text, StringComparison.Ordinal);
        Assert.Contains("Password = (set)", text, StringComparison.Ordinal);
    }

    [Fact]
    public void ConnectionOptions_CredentialsAndTls_ReachTheClient()
    {
        var options = Valid with
        {
            CredentialsFile = "/etc/busbar/app.creds",
            UseTls = true,
            TlsCaFile = "/etc/busbar/ca.pem",
            TlsCertFile = "/etc/busbar/client.pem",
            TlsKeyFile = "/etc/busbar/client.key",
            RequestTimeout = TimeSpan.FromSeconds(3),
        };

        var opts = NatsTransport.ConnectionOptions(options, NullLoggerFactory.Instance);

        Assert.Equal("/etc/busbar/app.creds", opts.AuthOpts.CredsFile);
        Assert.Equal(TlsMode.Require, opts.TlsOpts.Mode);
        Assert.Equal("/etc/busbar/ca.pem", opts.TlsOpts.CaFile);
        Assert.Equal("/etc/busbar/client.pem", opts.TlsOpts.CertFile);
        Assert.Equal("/etc/busbar/client.key", opts.TlsOpts.KeyFile);
        Assert.Equal(TimeSpan.FromSeconds(3), opts.RequestTimeout);
        Assert.Equal(-1, opts.MaxReconnectRetry);
        Assert.Equal("t", NatsTransport.ConnectionOptions(Valid with { Token = "t" }, NullLoggerFactory.Instance).AuthOpts.Token);
        Assert.Equal("/k.nk", NatsTransport.ConnectionOptions(Valid with { NKeyFile = "/k.nk" }, NullLoggerFactory.Instance).AuthOpts.NKeyFile);
    }

    [Fact]
    public async Task ConnectAsync_NoLocalServer_SaysHowToStartOne()
    {
        var port = FreePort();

        var error = await Assert.ThrowsAsync<NatsException>(async () =>
            await NatsTransport.ConnectAsync(Valid with { Url = $"nats://127.0.0.1:{port}", ConnectTimeout = TimeSpan.FromMilliseconds(500) }));

        Assert.Contains("nats-server -js", error.Message, StringComparison.Ordinal);
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
