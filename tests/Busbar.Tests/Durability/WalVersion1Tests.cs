using System.Buffers.Binary;
using Busbar.Durability;

namespace Busbar.Tests.Durability;

/// <summary>
/// Logs written in format version 1 (before the header checksum) still open. The fixture is a segment written by
/// the version 1 writer: events a (billing, shipping; shipping finished), b (billing; finished), c (billing;
/// dead-lettered as dd), d (billing).
/// </summary>
public class WalVersion1Tests
{
    private const string FixtureSegmentName = "0000000000000001.wal";

    private const string FixtureSegmentBase64 =
        "QkJXQUwBAAABAAAAAAAAAPAAAAABAAAAAAAAAAAAAAAAAAAACg0AAABvcmRlcnMucGxhY2Vk0k4e9bNu9EmY9fAtx8vQpQFo2lyQ" +
        "erUzQ6IbUmKNCYr+AgAAAAYAAABvcmRlcnMGAAAAcGxhY2VkgEDwHdoq3QgDAAAACgAAAGN1c3RvbWVyLTcBgKi0f+Iq3QgCAAAA" +
        "BgAAAHRlbmFudAQAAABhY21lBQAAAHRyYWNlBQAAADAwLWFiAQAAAAIAAAAHAAAAYmlsbGluZwgAAABzaGlwcGluZygAAAB7Im4i" +
        "OiJ4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eCJ95212rfgAAAABAAAAAAAAAAAAAAAAAAAACw0AAABvcmRlcnMucGxh" +
        "Y2Vkb9J3Is56oUWKn3B7KnRo6wHPkf3WWjxwT7nNpJ6IM80XAgAAAAYAAABvcmRlcnMGAAAAcGxhY2VkgEDwHdoq3QgDAAAACgAA" +
        "AGN1c3RvbWVyLTcBgKi0f+Iq3QgCAAAABgAAAHRlbmFudAQAAABhY21lBQAAAHRyYWNlBQAAADAwLWFiAQAAAAEAAAAHAAAAYmls" +
        "bGluZzwAAAB7Im4iOiJ4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4In0YQiq9IQAA" +
        "AAIAAAAAAAAAAAAAAAAAAAAKCAAAAHNoaXBwaW5nAAEAAACt382WIAAAAAIAAAAAAAAAAAAAAAAAAAALBwAAAGJpbGxpbmcAAQAA" +
        "AHFLXoIMAQAAAQAAAAAAAAAAAAAAAAAAAAwNAAAAb3JkZXJzLnBsYWNlZOPpFVuXH4ZLuYPBxgboSpgBAhHErJC1RUiRnpcdxuYo" +
        "twIAAAAGAAAAb3JkZXJzBgAAAHBsYWNlZIBA8B3aKt0IAwAAAAoAAABjdXN0b21lci03AYCotH/iKt0IAgAAAAYAAAB0ZW5hbnQE" +
        "AAAAYWNtZQUAAAB0cmFjZQUAAAAwMC1hYgEAAAABAAAABwAAAGJpbGxpbmdQAAAAeyJuIjoieHh4eHh4eHh4eHh4eHh4eHh4eHh4" +
        "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4In0C3lDWdgAAAAMAAAAAAAAAAAAAAAAA" +
        "AADdAAAAAAAAAAAAAAAAAAAADAcAAABiaWxsaW5nBQAAABcAAABTeXN0ZW0uVGltZW91dEV4Y2VwdGlvbiAAAABUaGUgaGFuZGxl" +
        "ciB0aW1lZCBvdXQuIMO8bsOvY29kZQCWuD7aKt0IyLdPFO4AAAABAAAAAAAAAAAAAAAAAAAADQ0AAABvcmRlcnMucGxhY2VkIxec" +
        "zjggekCaQgG+ePZYEgFOanuREVvyTa5vWOrXOrDpAgAAAAYAAABvcmRlcnMGAAAAcGxhY2VkgEDwHdoq3QgDAAAACgAAAGN1c3Rv" +
        "bWVyLTcBgKi0f+Iq3QgCAAAABgAAAHRlbmFudAQAAABhY21lBQAAAHRyYWNlBQAAADAwLWFiAQAAAAEAAAAHAAAAYmlsbGluZzIA" +
        "AAB7Im4iOiJ4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHgifY0mZ/o=";

    private static readonly Guid s_a = Guid.Parse("00000000-0000-0000-0000-00000000000a");
    private static readonly Guid s_c = Guid.Parse("00000000-0000-0000-0000-00000000000c");
    private static readonly Guid s_d = Guid.Parse("00000000-0000-0000-0000-00000000000d");
    private static readonly Guid s_dd = Guid.Parse("00000000-0000-0000-0000-0000000000dd");
    private static readonly WriteAheadLogOptions s_options = new() { FlushMode = WalFlushMode.None };

    [Fact]
    public async Task Open_Version1Fixture_RecoversItsStateAndWritesNewSegmentsInVersion2()
    {
        using var dir = WriteFixture();
        var appended = WalTestRecords.Event();

        await using (var log = dir.Open(s_options))
        {
            Assert.Empty(log.Recovery.Problems);
            Assert.Equal([s_a, s_d], log.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
            Assert.Equal(["billing"], log.Recovery.UnfinishedEvents[0].PendingSubscriptions);
            var deadLetter = Assert.Single(log.Recovery.DeadLetters);
            Assert.Equal(s_dd, deadLetter.DeadLetter.DeadLetterId);
            Assert.Equal(s_c, deadLetter.Event.EventId);
            await log.AppendEventAsync(appended);
        }

        var segments = dir.SegmentFiles();
        Assert.Equal(2, segments.Length);
        Assert.Equal(WalFormat.FormatVersion1, File.ReadAllBytes(segments[0])[5]);
        Assert.Equal(WalFormat.FormatVersion, File.ReadAllBytes(segments[1])[5]);
        await using var reopened = dir.Open(s_options);
        Assert.Empty(reopened.Recovery.Problems);
        Assert.Equal([s_a, s_d, appended.EventId], reopened.Recovery.UnfinishedEvents.Select(p => p.Event.EventId).Order());
    }

    [Fact]
    public async Task Open_Version1FixtureWithDamagedLengthField_SkipsOnlyThatRecord()
    {
        using var dir = WriteFixture();
        var path = Path.Combine(dir.Path, FixtureSegmentName);
        var bytes = await File.ReadAllBytesAsync(path);
        var frames = WalTestFrames.Read(bytes);
        var first = frames[0];
        Assert.Equal(s_a, Assert.IsType<WalEventRecord>(first.Record).EventId);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(first.Start), int.MaxValue - 3);
        await File.WriteAllBytesAsync(path, bytes);

        var inspection = WriteAheadLogInspector.Inspect(dir.Path);
        await using var log = dir.Open(s_options);

        Assert.True(inspection.HasDamage);
        var problem = Assert.Single(log.Recovery.Problems);
        Assert.Equal(WalProblemKind.CorruptSpan, problem.Kind);
        Assert.Equal(first.Start, problem.Offset);
        Assert.Equal(first.Length, problem.ByteCount);
        Assert.Equal([s_d], log.Recovery.UnfinishedEvents.Select(p => p.Event.EventId));
        Assert.Equal(s_dd, Assert.Single(log.Recovery.DeadLetters).DeadLetter.DeadLetterId);
    }

    [Fact]
    public void Inspect_Version1Fixture_ReportsRecordCounts()
    {
        using var dir = WriteFixture();

        var inspection = WriteAheadLogInspector.Inspect(dir.Path);

        var segment = Assert.Single(inspection.Segments);
        Assert.Equal(4, segment.EventRecords);
        Assert.Equal(2, segment.HandlerFinishedRecords);
        Assert.Equal(1, segment.DeadLetterRecords);
        Assert.Equal(2, inspection.PendingEvents);
        Assert.Equal(1, inspection.DeadLetterCount);
        Assert.False(inspection.HasDamage);
    }

    private static WalTestDirectory WriteFixture()
    {
        var dir = new WalTestDirectory();
        Directory.CreateDirectory(dir.Path);
        File.WriteAllBytes(Path.Combine(dir.Path, FixtureSegmentName), Convert.FromBase64String(FixtureSegmentBase64));
        return dir;
    }
}
