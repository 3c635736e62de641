namespace Busbar.Cli.Tests;

public sealed class TextWrapTests
{
    [Fact]
    public void Wrap_LongLine_BreaksOnlyAtSpacesWithinWidth()
    {
        const string line = "  correlation      975 of 975 invoices carried their order's correlation and causation ids";

        var lines = TextWrap.Wrap(line, 40, 19).ToList();

        Assert.True(lines.Count > 1);
        Assert.All(lines, l => Assert.True(l.Length <= 40, "too wide: " + l));
        Assert.StartsWith("  correlation", lines[0]);
        Assert.All(lines.Skip(1), l => Assert.StartsWith(new string(' ', 19), l));
        Assert.Equal(Words(line), Words(string.Join(' ', lines)));
    }

    [Fact]
    public void Wrap_WordLongerThanWidth_StaysWholeOnItsOwnLine()
    {
        var path = "/tmp/" + new string('x', 60);

        var lines = TextWrap.Wrap("  write-ahead log  " + path + " (kept)", 40, 19).ToList();

        Assert.Contains(lines, l => l.Trim() == path);
    }

    [Fact]
    public void Wrap_ShortLine_Unchanged() =>
        Assert.Equal(["short line"], TextWrap.Wrap("short line", 80, 4));

    private static string[] Words(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
