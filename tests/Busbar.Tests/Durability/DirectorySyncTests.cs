using Busbar.Durability;

namespace Busbar.Tests.Durability;

public class DirectorySyncTests
{
    [Fact]
    public void Flush_ExistingDirectory_Succeeds()
    {
        DirectorySync.Flush(Path.GetTempPath());
    }

    [Fact]
    public void Flush_MissingDirectoryOnLinux_ThrowsIOExceptionNamingIt()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var missing = Path.Combine(Path.GetTempPath(), "busbar-missing-" + Guid.NewGuid().ToString("N"));

        var ex = Assert.Throws<IOException>(() => DirectorySync.Flush(missing));

        Assert.Contains(missing, ex.Message, StringComparison.Ordinal);
    }
}
