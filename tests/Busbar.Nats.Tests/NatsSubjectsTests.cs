namespace Busbar.Nats.Tests;

public sealed class NatsSubjectsTests
{
    [Theory]
    [InlineData("orders.placed", "bus.orders.placed")]
    [InlineData("orders.*", "bus.orders.*")]
    [InlineData("orders.*.eu", "bus.orders.*.eu")]
    [InlineData("orders.**", "bus.orders.>")]
    [InlineData("*", "bus.>")]
    [InlineData("**", "bus.>")]
    public void Filter_BusPattern_MapsToSubjectWildcards(string pattern, string filter) =>
        Assert.Equal(filter, NatsSubjects.Filter("bus", pattern));

    [Theory]
    [InlineData("bus.a.*", "bus.a.b", true)]
    [InlineData("bus.a.>", "bus.a.b.c", true)]
    [InlineData("bus.a.*.c", "bus.a.b.*", true)]
    [InlineData("bus.a.>", "bus.a", false)]
    [InlineData("bus.a.*", "bus.b.*", false)]
    [InlineData("bus.a.*", "bus.a.b.c", false)]
    public void Overlap_TwoFilters_TrueWhenOneSubjectMatchesBoth(string a, string b, bool overlap)
    {
        Assert.Equal(overlap, NatsSubjects.Overlap(a, b));
        Assert.Equal(overlap, NatsSubjects.Overlap(b, a));
    }

    [Fact]
    public void ConsumerName_DotsInGroup_ValidAndDistinctPerGroupAndFilters()
    {
        var a = NatsSubjects.ConsumerName("billing.eu", ["bus.orders.*"]);
        var b = NatsSubjects.ConsumerName("billing_eu", ["bus.orders.*"]);
        var c = NatsSubjects.ConsumerName("billing.eu", ["bus.orders.>"]);

        Assert.DoesNotContain('.', a);
        Assert.StartsWith("billing_eu_", a, StringComparison.Ordinal);
        Assert.Equal(3, new[] { a, b, c }.Distinct().Count());
        Assert.Equal(a, NatsSubjects.ConsumerName("billing.eu", ["bus.orders.*"]));
    }

    [Fact]
    public void Layout_Server29_OneConsumerPerPatternEachOwningWhatNoEarlierPatternMatches()
    {
        var layout = NatsSubscription.Layout(["orders.*", "payments.**", "orders.*"], "bus", new NatsServerFeatures(new Version(2, 9, 10)));

        Assert.Equal([0, 1], layout.Select(l => l.PatternIndex!.Value));
        Assert.Equal(["bus.orders.*", "bus.payments.>"], layout.Select(l => Assert.Single(l.Filters)));
    }

    [Fact]
    public void Layout_Server210_DisjointPatternsShareOneConsumer_OverlappingOnesDoNot()
    {
        var features = new NatsServerFeatures(new Version(2, 10, 0));

        var disjoint = Assert.Single(NatsSubscription.Layout(["orders.*", "payments.**"], "bus", features));
        var overlapping = NatsSubscription.Layout(["orders.*", "orders.**"], "bus", features);

        Assert.Null(disjoint.PatternIndex);
        Assert.Equal(["bus.orders.*", "bus.payments.>"], disjoint.Filters);
        Assert.Equal(2, overlapping.Count);
    }

    [Theory]
    [InlineData("2.9.10", 2, 9, false)]
    [InlineData("2.10.22", 2, 10, true)]
    [InlineData("2.11.0-beta.1", 2, 11, true)]
    public void Features_FromServerVersion(string text, int major, int minor, bool multipleFilters)
    {
        var features = new NatsServerFeatures(NatsServerFeatures.Parse(text));

        Assert.Equal(new Version(major, minor), new Version(features.Version.Major, features.Version.Minor));
        Assert.Equal(multipleFilters, features.MultipleFilterSubjects);
        Assert.Equal(multipleFilters, features.CreateAction);
    }
}
