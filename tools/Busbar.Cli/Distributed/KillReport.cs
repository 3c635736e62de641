namespace Busbar.Cli.Distributed;

/// <summary>
/// The worker the demo killed: when, and how many events it held unsettled (received and never handled, dead-lettered
/// or given back, by its own reports). During the run that is what had been read of its output at the kill; the
/// summary's is recounted from all of it.
/// </summary>
internal sealed record KillReport(int Worker, int Pid, TimeSpan At, long HeldUnsettled);
