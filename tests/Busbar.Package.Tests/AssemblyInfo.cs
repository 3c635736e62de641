// Every test here builds parts of the repository with the dotnet CLI; two builds of one project at once would
// fight over its obj folder, so the tests run one after another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
