using Busbar.Durability;

namespace Busbar.Tests.Durability;

public class DirectorySyncTests
{
    [Fact]
    public void Flush_ExistingDirectoryOnLinux_Succeeds()
    {
        if (!OperatingSystem.IsLinux())
            return;
        Assert.True(DirectorySync.Flush(Path.GetTempPath()));
        Assert.False(DirectorySync.Flush(Path.Combine(Path.GetTempPath(), "busbar-missing-" + Guid.NewGuid().ToString("N"))));
    }
}
