using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Busbar.Cli.Demo;

/// <summary>The <c>busbar demo</c> command line: options, their validation, and the mapping to <see cref="DemoRequest"/>.</summary>
internal static class DemoCommand
{
    public static Command Create(CliConsole io, CliInterrupt interrupt)
    {
        var duration = new Option<TimeSpan?>("--duration", "-d")
        {
            Description = "Total run time, shutdown included: 10, 10s, 1500ms or 1m. [default: 10s, or enough for --events]",
            HelpName = "time",
            CustomParser = ParseDuration,
        };
        var events = new Option<long?>("--events", "-n")
        {
            Description = "Stop after this many orders, bursts included. [default: no limit]",
            HelpName = "count",
            CustomParser = OptionValues.Positive<long>,
        };
        var rate = new Option<int?>("--rate", "-r")
        {
            Description = "Steady orders per second between bursts. [default: 40% of the handler throughput measured at start]",
            HelpName = "per-second",
            CustomParser = OptionValues.Positive<int>,
        };
        var capacity = new Option<int?>("--capacity", "-c")
        {
            Description = "Bus queue capacity; each of the 3 bursts publishes twice this many orders at once. [default: sized to the measured throughput]",
            HelpName = "events",
            CustomParser = OptionValues.Positive<int>,
        };
        var fullMode = new Option<BusFullMode?>("--full-mode", "-m")
        {
            Description = "What a publish does when the queue is full: wait, reject, drop-newest or drop-oldest. [default: wait]",
            CustomParser = ParseFullMode,
            HelpName = "mode",
        };
        fullMode.CompletionSources.Add("wait", "reject", "drop-newest", "drop-oldest");
        var concurrency = new Option<int?>("--concurrency")
        {
            Description = "Events handled at the same time. [default: 4]",
            HelpName = "events",
            CustomParser = OptionValues.Positive<int>,
        };
        var wal = new Option<string?>("--wal")
        {
            Description = "Write-ahead log directory, kept after the run. [default: a temporary directory, removed after the run]",
            HelpName = "dir",
            CustomParser = OptionValues.Path,
        };
        var flush = new Option<WalFlushMode?>("--flush")
        {
            Description = "When a publish to the write-ahead log completes: always (after fsync), interval (fsync every 100 ms) or none. [default: always]",
            CustomParser = ParseFlushMode,
            HelpName = "mode",
        };
        flush.CompletionSources.Add("always", "interval", "none");
        var noLive = new Option<bool>("--no-live") { Description = "Plain line output instead of the live view (automatic when output is not a terminal)." };

        var command = new Command("demo", "Run an order pipeline on an embedded bus with a live view, then shut down gracefully and print a summary.")
        {
            duration, events, rate, capacity, fullMode, concurrency, wal, flush, noLive,
        };
        command.SetAction((result, _) =>
        {
            var request = new DemoRequest
            {
                Duration = result.GetValue(duration),
                MaxOrders = result.GetValue(events),
                Rate = result.GetValue(rate),
                Capacity = result.GetValue(capacity),
                FullMode = result.GetValue(fullMode) ?? BusFullMode.Wait,
                Concurrency = result.GetValue(concurrency) ?? 4,
                WalDirectory = result.GetValue(wal),
                FlushMode = result.GetValue(flush) ?? WalFlushMode.Always,
                NoLive = result.GetValue(noLive),
            };
            return DemoRunner.RunAsync(request, io, interrupt);
        });
        return command;
    }

    private static TimeSpan? ParseDuration(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value.Trim() : "";
        var (number, unit) = text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) ? (text[..^2], 0.001)
            : text.EndsWith('s') || text.EndsWith('S') ? (text[..^1], 1.0)
            : text.EndsWith('m') || text.EndsWith('M') ? (text[..^1], 60.0)
            : (text, 1.0);
        if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value * unit is >= 0.5 and <= 86_400)
            return TimeSpan.FromSeconds(value * unit);
        result.AddError($"--duration '{text}' is not a time from 500ms to 24h, such as 10, 10s, 1500ms or 1m.");
        return null;
    }

    private static WalFlushMode? ParseFlushMode(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        switch (text.ToUpperInvariant())
        {
            case "ALWAYS": return WalFlushMode.Always;
            case "INTERVAL": return WalFlushMode.Interval;
            case "NONE": return WalFlushMode.None;
            default:
                result.AddError($"--flush '{text}' is not one of always, interval, none.");
                return null;
        }
    }

    private static BusFullMode? ParseFullMode(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        switch (text.Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).ToUpperInvariant())
        {
            case "WAIT": return BusFullMode.Wait;
            case "REJECT": return BusFullMode.Reject;
            case "DROPNEWEST": return BusFullMode.DropNewest;
            case "DROPOLDEST": return BusFullMode.DropOldest;
            default:
                result.AddError($"--full-mode '{text}' is not one of wait, reject, drop-newest, drop-oldest.");
                return null;
        }
    }

    /// <summary>The spelling the options accept, for output: <c>drop-oldest</c>, not <c>DropOldest</c>.</summary>
    public static string Spelling(BusFullMode mode) => mode switch
    {
        BusFullMode.Wait => "wait",
        BusFullMode.Reject => "reject",
        BusFullMode.DropNewest => "drop-newest",
        _ => "drop-oldest",
    };

    /// <inheritdoc cref="Spelling(BusFullMode)"/>
    public static string Spelling(WalFlushMode mode) => mode switch
    {
        WalFlushMode.Always => "always",
        WalFlushMode.Interval => "interval",
        _ => "none",
    };
}
