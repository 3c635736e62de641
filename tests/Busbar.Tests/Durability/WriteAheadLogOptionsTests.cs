namespace Busbar.Tests.Durability;

public class WriteAheadLogOptionsTests
{
    [Fact]
    public void Defaults_AreDocumentedValues()
    {
        var options = new WriteAheadLogOptions();

        Assert.Equal(WalFlushMode.Always, options.FlushMode);
        Assert.Equal(TimeSpan.FromMilliseconds(100), options.FlushInterval);
        Assert.Equal(16L * 1024 * 1024, options.SegmentSize);
        Assert.Equal(4 * 1024 * 1024, options.MaxRecordSize);
        options.Validate();
    }

    [Fact]
    public void Validate_SegmentSizeTooSmall_ThrowsNamingTheOption()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new WriteAheadLogOptions { SegmentSize = 10 }.Validate());

        Assert.StartsWith("WriteAheadLogOptions.SegmentSize must be at least 65536 bytes (was 10).", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(300 * 1024 * 1024)]
    public void Validate_MaxRecordSizeOutOfRange_ThrowsNamingTheOption(int value)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new WriteAheadLogOptions { MaxRecordSize = value }.Validate());

        Assert.StartsWith("WriteAheadLogOptions.MaxRecordSize", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NonPositiveFlushInterval_ThrowsNamingTheOption()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new WriteAheadLogOptions { FlushInterval = TimeSpan.Zero }.Validate());

        Assert.StartsWith("WriteAheadLogOptions.FlushInterval", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_UndefinedFlushMode_ThrowsNamingTheOption()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new WriteAheadLogOptions { FlushMode = (WalFlushMode)7 }.Validate());

        Assert.StartsWith("WriteAheadLogOptions.FlushMode", ex.Message, StringComparison.Ordinal);
    }
}
