namespace Busbar.Cli.Tests.Distributed;

/// <summary>
/// The distributed demo runs start worker processes that take both cores of a small machine for seconds: they run alone,
/// after the other tests, so timing-sensitive runs of the embedded demo (paced to the machine) do not compete with them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DistributedDemoCollection
{
    public const string Name = "Distributed demo";
}
