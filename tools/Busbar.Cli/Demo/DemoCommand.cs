using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Busbar.Cli.Demo;

/// <summary>The <c>busbar demo</c> command line: options, their validation, and the mapping to <see cref="DemoSettings"/>.</summary>
internal static class DemoCommand
{
    public static Command Create(CliConsole io, CancellationToken interrupt)
    {
        var duration = new Option<TimeSpan?>("--duration", "-d")
        {
            Description = "Total run time, shutdown included: 10, 10s, 1500ms or 1m. Default 10s (or enough for --events).",
            HelpName = "time",
            CustomParser = ParseDuration,
        };
        var events = new Option<long?>("--events", "-n") { Description = "Stop after this many orders, bursts included.", HelpName = "count" };
        var rate = new Option<int>("--rate", "-r") { Description = "Steady orders per second between bursts.", DefaultValueFactory = _ => 250, HelpName = "per-second" };
        var capacity = new Option<int>("--capacity", "-c") { Description = "Bus queue capacity; each of the 3 bursts publishes twice this many orders at once.", DefaultValueFactory = _ => 256 };
        var fullMode = new Option<BusFullMode>("--full-mode", "-m")
        {
            Description = "What a publish does when the queue is full: wait, reject, drop-newest or drop-oldest.",
            DefaultValueFactory = _ => BusFullMode.Wait,
            CustomParser = ParseFullMode,
            HelpName = "mode",
        };
        fullMode.CompletionSources.Add("wait", "reject", "drop-newest", "drop-oldest");
        var concurrency = new Option<int>("--concurrency") { Description = "Events handled at the same time.", DefaultValueFactory = _ => 4 };
        var wal = new Option<string?>("--wal") { Description = "Write-ahead log directory. Default: a new temporary directory.", HelpName = "dir" };
        var flush = new Option<WalFlushMode>("--flush")
        {
            Description = "When a publish to the write-ahead log completes: always (after fsync), interval (fsync every 100 ms) or none.",
            DefaultValueFactory = _ => WalFlushMode.Always,
            CustomParser = ParseFlushMode,
            HelpName = "mode",
        };
        flush.CompletionSources.Add("always", "interval", "none");
        var noLive = new Option<bool>("--no-live") { Description = "Plain line output instead of the live view (automatic when output is not a terminal)." };

        RequirePositive(events);
        RequirePositive(rate);
        RequirePositive(capacity);
        RequirePositive(concurrency);

        var command = new Command("demo", "Run an order pipeline on an embedded bus with a live view, then shut down gracefully and print a summary.")
        {
            duration, events, rate, capacity, fullMode, concurrency, wal, flush, noLive,
        };
        command.SetAction((result, _) =>
        {
            var maxOrders = result.GetValue(events);
            var perSecond = result.GetValue(rate);
            var settings = new DemoSettings
            {
                Duration = result.GetValue(duration) ?? DefaultDuration(maxOrders, perSecond),
                MaxOrders = maxOrders,
                Rate = perSecond,
                Capacity = result.GetValue(capacity),
                FullMode = result.GetValue(fullMode),
                Concurrency = result.GetValue(concurrency),
                WalDirectory = result.GetValue(wal),
                FlushMode = result.GetValue(flush),
                NoLive = result.GetValue(noLive),
            };
            return DemoRunner.RunAsync(settings, io, interrupt);
        });
        return command;
    }

    /// <summary>With only <c>--events</c>, leave room to publish them at the rate, plus a quarter for bursts that wait, plus the drain.</summary>
    private static TimeSpan DefaultDuration(long? maxOrders, int rate) =>
        maxOrders is { } n ? TimeSpan.FromSeconds(2 + (1.25 * n / rate)) : TimeSpan.FromSeconds(10);

    private static void RequirePositive<T>(Option<T> option)
    {
        option.Validators.Add(result =>
        {
            T? value;
            try
            {
                value = result.GetValueOrDefault<T>();
            }
            catch (InvalidOperationException)
            {
                // Not a number at all: the parser has already reported it.
                return;
            }

            if (value is not null && Convert.ToInt64(value, CultureInfo.InvariantCulture) < 1)
                result.AddError($"{option.Name} must be at least 1 (was {value}).");
        });
    }

    private static TimeSpan? ParseDuration(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value.Trim() : "";
        var (number, unit) = text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) ? (text[..^2], 0.001)
            : text.EndsWith('s') || text.EndsWith('S') ? (text[..^1], 1.0)
            : text.EndsWith('m') || text.EndsWith('M') ? (text[..^1], 60.0)
            : (text, 1.0);
        if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value * unit is > 0 and <= 86_400)
            return TimeSpan.FromSeconds(value * unit);
        result.AddError($"--duration '{text}' is not a positive time such as 10, 10s, 1500ms or 1m.");
        return null;
    }

    private static WalFlushMode ParseFlushMode(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        switch (text.ToUpperInvariant())
        {
            case "ALWAYS": return WalFlushMode.Always;
            case "INTERVAL": return WalFlushMode.Interval;
            case "NONE": return WalFlushMode.None;
            default:
                result.AddError($"--flush '{text}' is not one of always, interval, none.");
                return default;
        }
    }

    private static BusFullMode ParseFullMode(ArgumentResult result)
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
                return default;
        }
    }
}
