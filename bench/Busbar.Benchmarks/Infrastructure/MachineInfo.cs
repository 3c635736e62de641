using System.Runtime.InteropServices;

namespace Busbar.Benchmarks.Infrastructure;

/// <summary>The header every results table starts with: CPU, cores, OS and runtime.</summary>
public static class MachineInfo
{
    public static string Cpu()
    {
        const string cpuInfo = "/proc/cpuinfo";
        if (File.Exists(cpuInfo))
        {
            foreach (var line in File.ReadLines(cpuInfo))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal))
                {
                    return line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
                }
            }
        }

        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    public static string MarkdownHeader() =>
        $"""
        - CPU: {Cpu()}
        - Logical cores: {Environment.ProcessorCount}
        - OS: {RuntimeInformation.OSDescription}
        - .NET: {RuntimeInformation.FrameworkDescription} ({RuntimeInformation.RuntimeIdentifier}), GC: {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}{(System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.Batch ? ", non-concurrent" : ", concurrent")}
        - Run at: {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC
        """;
}
