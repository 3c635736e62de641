using Busbar.Durability;

namespace Busbar.Tests.Durability;

/// <summary>
/// The directory lock holds across processes even when .NET's own file locking is switched off
/// (<c>DOTNET_SYSTEM_IO_DISABLEFILELOCKING</c>, which makes <see cref="FileShare.None"/> a no-op on Unix).
/// </summary>
[Collection(nameof(CrashCollection))]
public sealed class WalDirectoryLockTests : IDisposable
{
    private static readonly Dictionary<string, string> s_lockingDisabled = new() { ["DOTNET_SYSTEM_IO_DISABLEFILELOCKING"] = "1" };
    private readonly WalTestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Open_WhileProcessWithFileLockingDisabledHoldsTheLog_ThrowsWalLocked()
    {
        using var host = CrashHostProcess.Start(_dir.Path, start: 1, slow: false, recoverOnly: false, hold: true, environment: s_lockingDisabled);
        await host.WaitUntilAsync(h => h.Opened, "the host opened the log");

        var ex = Assert.Throws<WalLockedException>(() => _dir.Open());

        Assert.Contains("already in use", ex.Message, StringComparison.Ordinal);
        host.CloseInput();
        Assert.Equal(0, await host.WaitForExitAsync());
        await using var afterwards = _dir.Open();
    }

    [Fact]
    public async Task Open_ByProcessWithFileLockingDisabledWhileLogIsOpen_FailsWithLockedError()
    {
        await using var log = _dir.Open();

        using var host = CrashHostProcess.Start(_dir.Path, start: 1, slow: false, recoverOnly: true, environment: s_lockingDisabled);

        Assert.NotEqual(0, await host.WaitForExitAsync());
        Assert.False(host.Opened);
        Assert.Contains("already in use", host.Snapshot().Error, StringComparison.Ordinal);
    }
}
