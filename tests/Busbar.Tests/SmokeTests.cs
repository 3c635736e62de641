namespace Busbar.Tests;

public class SmokeTests
{
    [Fact]
    public void Build_Works() => Assert.True(typeof(SmokeTests).Assembly is not null);
}
