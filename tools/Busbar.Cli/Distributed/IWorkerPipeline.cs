namespace Busbar.Cli.Distributed;

/// <summary>
/// The part of a demo worker that consumes the group and runs the order pipeline on a bus. The seam lets the worker's
/// consumption change (transport API and a local bus today; a bus built on the transport later) without touching
/// process management, the protocol or the accounting.
/// </summary>
internal interface IWorkerPipeline
{
    /// <summary>
    /// Joins the group, reports <see cref="WorkerLineKind.Ready"/>, and handles deliveries until <paramref name="stop"/>;
    /// then stops taking new ones, lets the ones it holds finish (or gives them back), and returns.
    /// </summary>
    Task RunAsync(WorkerReporter report, CancellationToken stop);
}
