namespace Busbar.Cli.Demo;

/// <summary>Where a demo run is.</summary>
internal enum DemoPhase
{
    Publishing,
    Draining,
    Stopped,
}
